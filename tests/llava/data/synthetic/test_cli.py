"""Both generators' command lines: one flag set with each generator's defaults, runnable with python -m."""
import os
import subprocess
import sys

import pytest

from llava.data.synthetic.cli import generator_parser

FLAGS = ["--out", "--num-train", "--num-test", "--seed", "--image-size", "--overwrite"]


def test_parser_carries_the_generator_defaults():
    parser = generator_parser("prog", None, out="o", num_train=7, num_test=3, num_train_help="t", num_test_help="q")
    assert vars(parser.parse_args([])) == {"out": "o", "num_train": 7, "num_test": 3, "seed": 0,
                                           "image_size": 64, "overwrite": False}
    args = parser.parse_args(["--num-train", "2", "--seed", "5", "--image-size", "32", "--overwrite"])
    assert (args.num_train, args.seed, args.image_size, args.overwrite) == (2, 5, 32, True)
    with pytest.raises(SystemExit):
        parser.parse_args(["--num-train", "two"])


@pytest.mark.parametrize("module, got", [
    ("llava.data.synthetic", "need num_train >= 0, num_test >= 1, image_size >= 16; got 20000, 0, 64"),
    ("llava.data.synthetic.interference", "need num_train >= 1, num_test >= 1, image_size >= 16; got 2000, 0, 64"),
])
def test_both_commands_take_the_same_flags_and_name_bad_sizes_in_one_line(module, got, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    shown = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0 and shown.stdout.startswith(f"usage: python -m {module} ")
    assert [flag for flag in FLAGS if flag in shown.stdout] == FLAGS
    bad = subprocess.run([sys.executable, "-m", module, "--out", str(tmp_path / "d"), "--num-test", "0"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [f"error: {got}"]
    assert not (tmp_path / "d").exists()
