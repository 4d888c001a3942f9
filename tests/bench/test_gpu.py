"""bench.gpu: the CPU dry run covers the whole script minus the GPU-only parts; the out-of-memory back-off;
bench/gpu.sh refuses to run without CUDA. Nothing here depends on timings."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench import gpu

REPO = Path(__file__).resolve().parents[2]
CELL_KEYS = {"batch", "step_ms", "tokens_per_s", "peak_gib", "over_lora_kr", "loss", "oom_batches", "skipped"}


def _run(argv, capsys):
    result = gpu.main(argv)
    printed = capsys.readouterr().out.strip().splitlines()
    return result, printed


def test_dry_run_json_has_every_cell(capsys, tmp_path):
    out_file = tmp_path / "gpu.json"
    result, printed = _run(["--dry-run", "--skip-zero", "--json-out", str(out_file)], capsys)
    last = json.loads(printed[-1])  # the last printed line is the machine-readable result
    assert last == json.loads(out_file.read_text()) == json.loads(json.dumps(result))

    assert last["dry_run"] is True and last["device"].startswith("cpu")
    assert last["gpu_memory_gib"] is None
    for name in ("torch", "transformers", "peft", "deepspeed", "flash_attn", "bitsandbytes", "cuda", "python"):
        assert name in last["versions"]
    assert last["versions"]["torch"] == torch.__version__
    assert last["model"]["image_tokens"] == 16 and last["model"]["params"] > 0

    # every variant x attention x checkpointing cell, with the same keys whether measured or skipped
    assert set(last["train"]) == set(gpu.ATTNS)
    for attn in gpu.ATTNS:
        assert set(last["train"][attn]) == {"ckpt_on", "ckpt_off"}
        for cells in last["train"][attn].values():
            assert set(cells) == set(gpu.DEFAULT_VARIANTS)
            for cell in cells.values():
                assert set(cell) == CELL_KEYS

    # sdpa measured, with finite positive ratios; flash-attention null with a reason (no CUDA here)
    for ckpt in ("ckpt_on", "ckpt_off"):
        for variant, cell in last["train"]["sdpa"][ckpt].items():
            assert cell["skipped"] is None and cell["batch"] == 2, (ckpt, variant)
            assert cell["step_ms"] > 0 and cell["tokens_per_s"] > 0 and math.isfinite(cell["loss"])
            assert math.isfinite(cell["over_lora_kr"]) and cell["over_lora_kr"] > 0
            assert cell["peak_gib"] is None  # no CUDA memory statistics on CPU
        assert last["train"]["sdpa"][ckpt]["lora_kr"]["over_lora_kr"] == 1.0
        for cell in last["train"]["flash_attention_2"][ckpt].values():
            assert cell["step_ms"] is None and cell["over_lora_kr"] is None and cell["batch"] is None
            assert isinstance(cell["skipped"], str) and cell["skipped"]
    assert last["skipped_attn"]["sdpa"] is None and last["skipped_attn"]["flash_attention_2"]

    ratios = last["ratios"]
    expected = {f"{a}_{c}_{v}_over_lora_kr" for a in gpu.ATTNS for c in ("ckpt_on", "ckpt_off")
                for v in gpu.DEFAULT_VARIANTS if v != "lora_kr"}
    assert set(ratios) == expected
    for key, value in ratios.items():
        if key.startswith("sdpa_"):
            assert math.isfinite(value) and value > 0, key
        else:
            assert value is None, key

    assert set(last["qlora"]) == set(gpu.empty_qlora(None))
    assert last["qlora"]["step_ms"] is None and "CUDA" in last["qlora"]["skipped"]
    assert set(last["zero2"]) == set(gpu.empty_zero2(None))
    assert last["zero2"]["finished"] is None and "--skip-zero" in last["zero2"]["skipped"]

    table = "\n".join(printed)
    assert "| sdpa | on | teamlora | 2 |" in table and "flash_attention_2: flash_attn" in table


def test_oom_back_off_halves_until_it_fits():
    calls, cleanups, messages = [], [], []

    def step(batch):
        calls.append(batch)
        if batch > 4:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {batch} GiB")
        return f"ran at {batch}"

    fit = gpu.fit_batch(step, 16, cleanup=lambda: cleanups.append(1), log=messages.append)
    assert (fit.batch, fit.value, fit.oom_batches) == (4, "ran at 4", [16, 8])
    assert calls == [16, 8, 4] and len(cleanups) == 2 and len(messages) == 2

    def always_oom(batch):
        raise torch.OutOfMemoryError("out of memory")

    never = gpu.fit_batch(always_oom, 5, log=lambda m: None)
    assert never.batch is None and never.oom_batches == [5, 2, 1]

    # allocator failures raised as a plain RuntimeError count too; any other error propagates at once
    assert gpu.is_oom(RuntimeError("CUDA error: out of memory"))
    def broken(batch):
        raise ValueError("shape mismatch")

    with pytest.raises(ValueError):
        gpu.fit_batch(broken, 8, log=lambda m: None)


def test_oom_back_off_in_the_training_matrix(monkeypatch, capsys):
    real_step = gpu.optimizer_step

    def step_that_fits_one_sample(model, optimizer, inputs, **kwargs):
        if inputs["input_ids"].shape[0] > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (fake)")
        return real_step(model, optimizer, inputs, **kwargs)

    monkeypatch.setattr(gpu, "optimizer_step", step_that_fits_one_sample)
    result, _ = _run(["--dry-run", "--skip-zero", "--skip-qlora", "--grad-ckpt", "off", "--variants", "teamlora",
                      "--steps", "1", "--warmup", "0", "--batch", "4"], capsys)
    cells = result["train"]["sdpa"]["ckpt_off"]
    for variant in ("lora_kr", "teamlora"):
        assert cells[variant]["batch"] == 1 and cells[variant]["oom_batches"] == [4, 2]
        assert cells[variant]["step_ms"] > 0
    assert cells["moelora"]["skipped"].startswith("not requested")
    assert result["train"]["sdpa"]["ckpt_on"]["teamlora"]["skipped"].startswith("not requested")
    assert "--skip-qlora" in result["qlora"]["skipped"]


def test_flags_are_checked():
    with pytest.raises(SystemExit):
        gpu.parse_args(["--attn", "sdpa,xformers"])
    with pytest.raises(SystemExit):
        gpu.parse_args(["--grad-ckpt", "maybe"])
    args = gpu.parse_args(["--variants", "teamlora"])
    assert args.variants == ["lora_kr", "teamlora"]  # the reference is always measured
    assert gpu.parse_args([]).attn == list(gpu.ATTNS) and gpu.parse_args(["--dry-run"]).attn == ["sdpa"]
    settings = gpu.settings_for(gpu.parse_args([]), torch.device("cpu"))
    assert (settings.batch, settings.seq_len, settings.dtype) == (16, 2048, torch.bfloat16)


def test_7b_config_shapes_and_adapters():
    config = gpu.llava7b_config()
    text, vision = config.text_config, config.vision_config
    assert (text.hidden_size, text.intermediate_size, text.num_hidden_layers, text.num_attention_heads,
            text.vocab_size) == (4096, 11008, 32, 32, 32064)
    assert (vision.hidden_size, vision.num_hidden_layers, vision.num_attention_heads, vision.intermediate_size,
            vision.image_size, vision.patch_size) == (1024, 24, 16, 4096, 336, 14)
    assert gpu.image_tokens(config) == 576

    # built on the meta device (no memory): exactly llava-hf/llava-1.5-7b-hf's parameter count, and the
    # adapters bench.gpu swaps in cover the 96 FFN projections of the 32 layers
    from transformers import LlavaForConditionalGeneration

    with torch.device("meta"):
        model = LlavaForConditionalGeneration._from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa")
    assert sum(p.numel() for p in model.parameters()) == 7_063_427_072
    settings = gpu.settings_for(gpu.parse_args([]), torch.device("cpu"))
    adapter = gpu.Adapter(model, "teamlora", settings)
    assert len(adapter.layers) == 96
    assert adapter.layers["model.language_model.layers.0.mlp.up_proj"].lora_A.weight.shape == (128, 4096)
    # as DeepSpeed's bf16 engine leaves them (teamlora alone would make them float32)
    assert {p.dtype for p in adapter.own_params} == {settings.dtype} == {torch.bfloat16}


def test_module_refuses_without_cuda(capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    with pytest.raises(SystemExit) as exc:
        gpu.main(["--skip-zero"])
    assert exc.value.code == 2 and "--dry-run" in capsys.readouterr().err


def test_gpu_sh_refuses_without_cuda(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    # this interpreter's environment, marked ready so scripts/env.sh skips its (slow) import check
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LLAVA_TEAMLORA_ENV_READY": str(REPO),
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu.sh")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "no CUDA device is visible" in proc.stderr and "--dry-run" in proc.stderr
    assert not proc.stdout.strip()


def test_qlora_step_on_cpu_when_bitsandbytes_is_present(tmp_path):
    """The 4-bit path itself (save, NF4 load, prepare_model_for_kbit_training, TeamLoRA, steps); bitsandbytes
    0.50 quantises on CPU too. The dry run reports QLoRA as skipped, so this is its only CPU coverage."""
    pytest.importorskip("bitsandbytes")
    settings = gpu.settings_for(gpu.parse_args(["--dry-run", "--steps", "1", "--warmup", "0"]), torch.device("cpu"))
    config = gpu.dry_config()
    model = gpu.build_base(config, settings, "sdpa")
    model.to(torch.bfloat16).save_pretrained(tmp_path / "base")
    result = gpu.run_qlora_from(tmp_path / "base", config, settings, "sdpa", True)
    assert result["skipped"] is None and result["batch"] == 2 and result["step_ms"] > 0
    assert math.isfinite(result["loss"])
    # only the language model's 14 Linear layers (2 layers x 7): tower, projector and lm_head stay unquantised
    assert result["quantized_linear_layers"] == 2 * 7


@pytest.mark.slow
def test_dry_run_with_zero2_deepspeed_launcher(capsys, tmp_path):
    out_file = tmp_path / "gpu.json"
    result, printed = _run(["--dry-run", "--variants", "teamlora", "--grad-ckpt", "off", "--steps", "1",
                            "--warmup", "0", "--work-dir", str(tmp_path / "work"), "--json-out", str(out_file)], capsys)
    assert json.loads(printed[-1]) == json.loads(out_file.read_text())
    zero = result["zero2"]
    log = Path(zero["log"]).read_text() if zero["log"] else ""
    assert zero["finished"] is True, log[-3000:]
    assert zero["returncode"] == 0 and zero["steps"] == 2 and zero["skipped"] is None
    assert zero["step_time_s"] > 0 and math.isfinite(zero["loss"])
    assert zero["checkpoint_loaded"] is True and zero["adapted_layers"] > 0
    assert "--num_gpus 1" in zero["command"] and "llava.train.train" in zero["command"]
    assert (tmp_path / "work" / "zero2" / "run" / "adapter_model.safetensors").is_file()


def test_adapters_swap_in_and_out_and_peaks_exclude_the_waiting_variants(monkeypatch):
    from teamlora import adapted_layers

    from bench.timing import Sample

    settings = gpu.settings_for(gpu.parse_args(["--dry-run", "--steps", "2", "--warmup", "1"]), torch.device("cpu"))
    config = gpu.dry_config()
    model = gpu.build_base(config, settings, "sdpa")
    adapters = {v: gpu.Adapter(model, v, settings) for v in ("lora_kr", "teamlora", "moelora_loop")}
    assert not list(adapted_layers(model))  # built, then set aside
    adapters["teamlora"].install(model)
    assert len(list(adapted_layers(model))) == 2 * 3  # FFN gate/up/down in 2 layers
    adapters["teamlora"].uninstall(model)
    assert not list(adapted_layers(model))
    assert not any(p.requires_grad for n, p in model.named_parameters() if gpu.PROJECTOR not in n)

    # pretend to be on CUDA: every step "peaks" at 1 GiB; what the other variants hold is subtracted
    fake_peak = 2 ** 30

    def fake_timed_step(step, settings):
        step()
        return Sample(0.01, 0.01, 1), fake_peak

    monkeypatch.setattr(gpu, "timed_step", fake_timed_step)
    cuda_settings = gpu.Settings(**{**settings.__dict__, "device": torch.device("cuda")})
    inputs = gpu.make_inputs(config, 2, 64, settings)
    result = gpu.measure_group(model, adapters, inputs, cuda_settings)
    resident = {n: a.resident_bytes() for n, a in adapters.items()}
    assert all(b > 0 for b in resident.values())
    for name in adapters:
        assert result.peaks[name] == fake_peak - sum(b for n, b in resident.items() if n != name)
        assert len(result.samples[name]) == 2 and math.isfinite(result.losses[name])
    assert not list(adapted_layers(model))


def test_a_failing_group_is_reported_not_fatal(monkeypatch, capsys):
    def broken_step(model, optimizer, inputs, **kwargs):
        raise ValueError("something GPU-specific broke")

    monkeypatch.setattr(gpu, "optimizer_step", broken_step)
    result, printed = _run(["--dry-run", "--skip-zero", "--grad-ckpt", "off", "--variants", "teamlora",
                            "--steps", "1", "--warmup", "0"], capsys)
    for variant in ("lora_kr", "teamlora"):
        cell = result["train"]["sdpa"]["ckpt_off"][variant]
        assert cell["skipped"] == "failed: ValueError: something GPU-specific broke" and cell["step_ms"] is None
    assert json.loads(printed[-1]) == json.loads(json.dumps(result))
