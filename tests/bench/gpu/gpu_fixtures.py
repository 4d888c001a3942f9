"""Helpers the bench.gpu tests share: a run of main() with its printed lines, and the dry run's settings."""
import torch

from bench.gpu import cli


def run_main(argv, capsys):
    """cli.main(argv): (its result, the lines it printed on stdout)."""
    result = cli.main(argv)
    return result, capsys.readouterr().out.strip().splitlines()


def dry_settings(*flags):
    return cli.settings_for(cli.parse_args(["--dry-run", *flags]), torch.device("cpu"))
