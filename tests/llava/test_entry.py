"""Entry points: the project's own errors arrive as one `error:` line and a non-zero exit; bugs keep their traceback."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llava.data.errors import BadSampleError, DatasetFileError
from llava.entry import FlagError, named_error_message, run_entry
from teamlora.errors import AdapterLoadError

REPO = Path(__file__).resolve().parents[2]


def run(args, env_extra=None, cwd=REPO):
    env = {k: v for k, v in os.environ.items() if k not in ("LLAVA_DEBUG", "RANK")}
    env.update({"OMP_NUM_THREADS": "1", **(env_extra or {})})
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_trainer_bad_flag_is_one_line(tmp_path):
    result = run(["-m", "llava.train.train", "--model_name_or_path", str(tmp_path / "m"), "--data_path", "d.json",
                  "--output_dir", str(tmp_path / "out"), "--peft", "mole"])
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        "error: --peft 'mole' is not a method; choose one of none, lora, moelora, hydralora, teamlora"]
    assert "Traceback" not in result.stderr


def test_trainer_bad_data_file_is_one_line(tmp_path):
    from .train.train_fixtures import build_assets, train_args

    data, model_dir = build_assets(tmp_path / "assets", num_train=8, num_test=1)
    broken = tmp_path / "broken.json"
    broken.write_text('[{"id": "a", "conversations": []},\n{"id": "b", ')  # cut off mid-record
    args = train_args(data, model_dir, tmp_path / "out", "--peft", "lora", "--max_steps", "1")
    args[args.index("--data_path") + 1] = str(broken)
    result = run(["-m", "llava.train.train", *args])
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and str(broken) in lines[0], result.stderr[-3000:]


def test_synthetic_bad_size_is_one_line_and_debug_shows_the_traceback(tmp_path):
    args = ["-m", "llava.data.synthetic", "--out", str(tmp_path / "d"), "--num-test", "0"]
    result = run(args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: need num_train >= 0, num_test >= 1, image_size >= 16; got 20000, 0, 64"]
    for extra, env in (([], {"LLAVA_DEBUG": "1"}), (["--debug"], None)):
        debug = run(args + extra, env)
        assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr
        assert debug.stderr.strip().splitlines()[-1].startswith("ValueError: need num_train >= 0")


def test_other_ranks_exit_non_zero_with_their_rank(tmp_path):
    # --out in tmp_path: the default output folder may hold a model already, and then nothing is built
    result = run(["-m", "llava.model.tiny", "--data", "no/such/dir", "--out", str(tmp_path / "tiny")], {"RANK": "3"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert error_lines(result.stderr) == [
        "error: [rank 3] no/such/dir/pretrain.json is missing; run `python -m llava.data.synthetic --out no/such/dir` first"]


def test_an_unexpected_exception_keeps_its_traceback(tmp_path):
    script = tmp_path / "bug.py"
    script.write_text(textwrap.dedent("""
        from llava.entry import run_entry

        def main(argv):
            return {}["a key nobody set"]

        run_entry(main)
    """))
    result = run([str(script)])
    assert result.returncode == 1 and not error_lines(result.stderr)
    assert "Traceback (most recent call last)" in result.stderr and "KeyError: 'a key nobody set'" in result.stderr


def test_run_entry_in_process(capsys):
    def fails(error):
        def main(argv):
            assert argv == ["--x"]  # --debug is taken out
            raise error
        return main

    for error in (AdapterLoadError("layers.0.mlp.up_proj: lora_A has shape (4, 8), the model needs (4, 16)"),
                  DatasetFileError("d.json:3: not JSON"), FlagError("--bits must be 4, 8 or 16 (got 3)")):
        with pytest.raises(SystemExit) as exit_info:
            run_entry(fails(error), argv=["--x"])
        assert exit_info.value.code == 2
        assert capsys.readouterr().err == f"error: {error}\n"
    with pytest.raises(ValueError, match="plain"):  # a ValueError of no named kind is a bug
        run_entry(fails(ValueError("plain")), argv=["--x"])
    with pytest.raises(SystemExit):  # unless the entry point says it raises them for bad input
        run_entry(fails(ValueError("plain")), ValueError, argv=["--x"])
    with pytest.raises(DatasetFileError):
        run_entry(fails(DatasetFileError("d.json")), argv=["--x", "--debug"])
    assert run_entry(lambda argv: 7, argv=[]) == 7


def test_named_error_raised_in_a_dataloader_worker_keeps_its_own_message():
    # torch cannot rebuild BadSampleError from one string, so it arrives as a RuntimeError holding the traceback
    from torch.utils.data import DataLoader, Dataset

    class Bad(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            raise BadSampleError("rec-7", "missing_image", "images/x.png does not exist")

    with pytest.raises(RuntimeError) as info:
        next(iter(DataLoader(Bad(), num_workers=1, batch_size=1)))
    assert named_error_message(info.value) == (
        "bad sample 'rec-7' [missing_image]: images/x.png does not exist (in a DataLoader worker)")
    assert named_error_message(RuntimeError("Caught KeyError in DataLoader worker process 0.\n"
                                            "Original Traceback...\nKeyError: 'x'")) is None


@pytest.mark.parametrize("flags, message", [
    (["--temperature", "-1"], "error: need max_new_tokens >= 1, num_beams >= 1, temperature >= 0; got "
                              "Sampling(max_new_tokens=128, temperature=-1.0, top_p=None, num_beams=1)"),
    (["--conv-mode", "vicuna_v9"], "error: unknown conversation template 'vicuna_v9'; known: "),
])
def test_model_vqa_bad_decoding_flag_is_one_line_before_loading(tmp_path, flags, message):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question_id": 1, "text": "hi"}\n')
    # the model path does not exist: the flag must be refused before any loading is tried
    result = run(["-m", "llava.eval.model_vqa", "--model-path", str(tmp_path / "no-model"),
                  "--question-file", str(questions), "--answers-file", str(tmp_path / "a.jsonl"), *flags])
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr[-3000:]
