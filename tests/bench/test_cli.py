"""bench.cli: the benchmarks' shared flag checks name the flag and what was wrong."""
import argparse

import pytest

from bench.cli import choices, csv_list, require_min


def _parser():
    return argparse.ArgumentParser(prog="bench-test")


def test_csv_list_and_choices():
    assert csv_list(" a, b,,c ") == ["a", "b", "c"]
    assert choices("b,a,b", ["a", "b"], "--x", _parser()) == ["b", "a"]  # duplicates dropped, order kept


@pytest.mark.parametrize("text, message", [("a,zz", "--x: unknown ['zz']; choose from a, b"),
                                           (" , ", "--x: nothing given; choose from a, b")])
def test_choices_errors_name_the_flag(text, message, capsys):
    with pytest.raises(SystemExit):
        choices(text, ["a", "b"], "--x", _parser())
    assert message in capsys.readouterr().err


def test_require_min(capsys):
    args = argparse.Namespace(seq_len=4, steps=None, warmup=-1)
    require_min(_parser(), args, 1, "seq_len", "steps")  # set and fine / unset: no error
    with pytest.raises(SystemExit):
        require_min(_parser(), args, 0, "warmup")
    assert "--warmup must be >= 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        require_min(_parser(), args, 5, "seq_len")
    assert "--seq-len must be >= 5" in capsys.readouterr().err
