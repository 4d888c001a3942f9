"""The ZeRO-2 part: a real 2-step `deepspeed --num_gpus 1 --module llava.train.train ... --deepspeed
scripts/zero2.json` run (TeamLoRA) on a tiny LLaVA and synthetic data, and a check that its checkpoint loads."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

from teamlora import adapted_layers

from .settings import REPO, Settings

def empty_zero2(reason: Optional[str]) -> dict:
    return {"finished": None, "returncode": None, "steps": None, "step_time_s": None, "train_runtime_s": None,
            "wall_s": None, "loss": None, "checkpoint_loaded": None, "adapted_layers": None, "command": None,
            "log": None, "skipped": reason}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def zero2_command(data: Path, model_dir: Path, out: Path, settings: Settings, port: int) -> List[str]:
    launcher = shutil.which("deepspeed", path=os.path.dirname(sys.executable)) or shutil.which("deepspeed")
    if launcher is None:
        raise FileNotFoundError("the deepspeed launcher is not on PATH (pip install '.[train]')")
    precision = ["--bf16", "True"] if settings.cuda else ["--use_cpu", "True"]
    return [
        launcher, "--num_gpus", "1", "--master_port", str(port), "--module", "llava.train.train",
        "--deepspeed", str(REPO / "scripts" / "zero2.json"),
        "--model_name_or_path", str(model_dir), "--data_path", str(data / "train.json"),
        "--image_folder", str(data / "images"), "--conv_template", "vicuna_v1", "--output_dir", str(out),
        "--peft", "teamlora", "--adapter_r", "8", "--num_experts", "4",
        "--learning_rate", "1e-3", "--max_steps", "2", "--per_device_train_batch_size", "4",
        "--logging_steps", "1", "--save_strategy", "steps", "--save_steps", "2", "--model_max_length", "256",
        "--report_to", "none", "--remove_unused_columns", "False", "--disable_tqdm", "True",
        "--dataloader_num_workers", "0", "--plot", "False", "--seed", "0", *precision,
    ]


def read_trainer_state(out: Path) -> dict:
    state = json.loads((out / "trainer_state.json").read_text())
    history = state.get("log_history", [])
    summary = next((h for h in reversed(history) if "train_runtime" in h), {})
    losses = [h["loss"] for h in history if "loss" in h]
    steps = state.get("global_step") or 0
    runtime = summary.get("train_runtime")
    return {"steps": steps, "train_runtime_s": runtime, "loss": losses[-1] if losses else None,
            "step_time_s": runtime / steps if runtime is not None and steps else None}


def run_zero2(settings: Settings, work_dir: Path) -> dict:
    if settings.skip_zero:
        return empty_zero2("skipped by --skip-zero" + (" (--quick implies it)" if settings.quick else ""))
    from llava.data.synthetic import generate_dataset
    from llava.model.checkpoint import load_pretrained_model
    from llava.model.tiny import build_tiny_llava, dataset_texts

    log = settings.log
    root = work_dir / "zero2"
    data, model_dir, out = root / "synthetic", root / "tiny-llava", root / "run"
    result = empty_zero2(None)
    log(f"ZeRO-2: synthetic data and a tiny LLaVA under {root}")
    generate_dataset(data, num_train=64, num_test=8, seed=0, image_size=64)
    if not (model_dir / "config.json").is_file():
        build_tiny_llava(model_dir, dataset_texts(data), seed=0, text_hidden=128, text_layers=2,
                         vision_hidden=64, vision_layers=1, vocab_size=400)
    if out.exists():
        shutil.rmtree(out)  # a fresh run, not a resume of an earlier one
    try:
        cmd = zero2_command(data, model_dir, out, settings, free_port())
    except FileNotFoundError as err:
        return empty_zero2(str(err))
    result["command"] = " ".join(cmd[:7] + ["..."])
    log_file = root / "train.log"
    result["log"] = str(log_file)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    log(f"ZeRO-2: {' '.join(cmd[:7])} ... (log: {log_file})")
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=settings.zero_timeout_s)
        text, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as err:
        text = (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        text, code = text + f"\n[timed out after {settings.zero_timeout_s} s]", None
    result["wall_s"] = time.perf_counter() - start
    log_file.write_text(text)
    result["returncode"] = code
    result["finished"] = code == 0 and (out / "trainer_state.json").is_file()
    if not result["finished"]:
        tail = "\n".join(text.strip().splitlines()[-15:])
        result["skipped"] = f"the ZeRO-2 run failed (return code {code}); see {log_file}"
        log(f"ZeRO-2 run failed (return code {code}); last lines of {log_file}:\n{tail}")
        return result
    result.update(read_trainer_state(out))
    try:
        model, _ = load_pretrained_model(out)
        result["adapted_layers"] = sum(1 for _ in adapted_layers(model))
        result["checkpoint_loaded"] = result["adapted_layers"] > 0
        del model
    except Exception as err:  # noqa: BLE001 - a load failure is a result here
        result["checkpoint_loaded"] = False
        result["skipped"] = f"the checkpoint in {out} did not load: {type(err).__name__}: {err}"
    return result
