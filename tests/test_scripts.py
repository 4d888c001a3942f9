"""The GPU-cluster entry scripts build launcher command lines the trainer accepts (launcher stubbed out)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import HfArgumentParser

from llava.train.args import DataArguments, ModelArguments, TrainingArguments

REPO = Path(__file__).resolve().parents[1]


def launcher_argv(tmp_path, script, extra_env=None, *extra):
    """Run `script` with a stub `deepspeed` on PATH; return the arguments the stub received."""
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir(exist_ok=True)
    record = tmp_path / "argv.txt"
    stub = stub_dir / "deepspeed"
    stub.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > {record}\n')
    stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{stub_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
           "VIRTUAL_ENV": sys.prefix, "MODEL_PATH": "lmsys/vicuna-7b-v1.5", "NUM_GPUS": "8", **(extra_env or {})}
    env.pop("LLAVA_TEAMLORA_ENV_READY", None)
    result = subprocess.run(["bash", str(REPO / "scripts" / script), *extra], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return record.read_text().splitlines()


def launched_args(tmp_path, script, extra_env=None, *extra):
    """The trainer's arguments of a single-node launch."""
    argv = launcher_argv(tmp_path, script, extra_env, *extra)
    assert argv[:5] == ["--num_gpus", "8", "--master_port", "29500", "--module"]
    assert argv[5] == "llava.train.train"
    return argv[6:]


def flag(argv, name):
    return argv[argv.index(name) + 1]


def assert_all_flags_known(argv):
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    _, unknown = parser.parse_known_args(argv)
    assert unknown == []


@pytest.mark.parametrize("script,method,rank", [("finetune_teamlora.sh", "teamlora", "32"), ("finetune_lora.sh", "lora", "128"),
                                                 ("finetune_moelora.sh", "moelora", "32"), ("finetune_hydralora.sh", "hydralora", "32")])
def test_adapter_scripts(tmp_path, script, method, rank):
    argv = launched_args(tmp_path, script, None, "--num_train_epochs", "2")
    assert_all_flags_known(argv)
    assert flag(argv, "--peft") == method and flag(argv, "--adapter_r") == rank
    assert flag(argv, "--adapter_alpha") == str(2 * int(rank))
    assert flag(argv, "--deepspeed") == "scripts/zero3.json" and flag(argv, "--mm_vision_select_layer") == "-2"
    assert flag(argv, "--output_dir") == f"./checkpoints/llava-v1.5-7b-{method}"
    assert argv[-2:] == ["--num_train_epochs", "2"]  # extra arguments pass through last, so they win


def test_full_finetune_and_pretrain_scripts(tmp_path):
    full = launched_args(tmp_path, "finetune.sh", {"OUTPUT_DIR": "out", "DEEPSPEED": "scripts/zero2.json"})
    assert_all_flags_known(full)
    assert flag(full, "--peft") == "none" and flag(full, "--learning_rate") == "2e-5"
    assert "--adapter_r" not in full and flag(full, "--output_dir") == "out"
    assert flag(full, "--deepspeed") == "scripts/zero2.json"
    pre = launched_args(tmp_path, "pretrain.sh")
    assert_all_flags_known(pre)
    assert flag(pre, "--tune_mm_mlp_adapter") == "True" and flag(pre, "--conv_template") == "plain"


def test_hostfile_selects_multi_node_launch(tmp_path):
    argv = launcher_argv(tmp_path, "finetune_teamlora.sh", {"HOSTFILE": "scripts/hostfile.example"})
    assert argv[:2] == ["--hostfile", "scripts/hostfile.example"]
    assert argv[argv.index("--module") + 1] == "llava.train.train"
