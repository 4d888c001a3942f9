"""bench.gpu.matrix: the CPU dry run covers the whole grid minus the GPU-only parts; the out-of-memory back-off
inside the grid; adapters swapped in and out; peaks exclude the waiting variants; a failing group is reported.
Nothing here depends on timings."""
import json
import math

import torch

from bench.gpu import matrix, model, qlora, zero2
from bench.gpu.adapters import Adapter
from bench.gpu.settings import ATTNS, DEFAULT_VARIANTS, Settings
from bench.timing import Sample
from bench.variants import PROJECTOR

from .gpu_fixtures import dry_settings, run_main

CELL_KEYS = {"batch", "step_ms", "tokens_per_s", "peak_gib", "over_lora_kr", "loss", "oom_batches", "skipped"}


def test_dry_run_json_has_every_cell(capsys, tmp_path):
    out_file = tmp_path / "gpu.json"
    result, printed = run_main(["--dry-run", "--skip-zero", "--json-out", str(out_file)], capsys)
    last = json.loads(printed[-1])  # the last printed line is the machine-readable result
    assert last == json.loads(out_file.read_text()) == json.loads(json.dumps(result))

    assert last["dry_run"] is True and last["device"].startswith("cpu")
    assert last["gpu_memory_gib"] is None
    for name in ("torch", "transformers", "peft", "deepspeed", "flash_attn", "bitsandbytes", "cuda", "python"):
        assert name in last["versions"]
    assert last["versions"]["torch"] == torch.__version__
    assert last["model"]["image_tokens"] == 16 and last["model"]["params"] > 0

    # every variant x attention x checkpointing cell, with the same keys whether measured or skipped
    assert set(last["train"]) == set(ATTNS)
    for attn in ATTNS:
        assert set(last["train"][attn]) == {"ckpt_on", "ckpt_off"}
        for cells in last["train"][attn].values():
            assert set(cells) == set(DEFAULT_VARIANTS)
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
    expected = {f"{a}_{c}_{v}_over_lora_kr" for a in ATTNS for c in ("ckpt_on", "ckpt_off")
                for v in DEFAULT_VARIANTS if v != "lora_kr"}
    assert set(ratios) == expected
    for key, value in ratios.items():
        if key.startswith("sdpa_"):
            assert math.isfinite(value) and value > 0, key
        else:
            assert value is None, key

    assert set(last["qlora"]) == set(qlora.empty_qlora(None))
    assert last["qlora"]["step_ms"] is None and "CUDA" in last["qlora"]["skipped"]
    assert set(last["zero2"]) == set(zero2.empty_zero2(None))
    assert last["zero2"]["finished"] is None and "--skip-zero" in last["zero2"]["skipped"]

    # the run finished: the file says so, and says how long each part took
    assert last["complete"] is True and last["elapsed_s"] > 0
    assert set(last["part_s"]) == {"build", "sdpa/ckpt_on", "sdpa/ckpt_off", "qlora", "zero2"}

    table = "\n".join(printed)
    assert "| sdpa | on | teamlora | 2 |" in table and "flash_attention_2: flash_attn" in table


def test_oom_back_off_in_the_training_matrix(monkeypatch, capsys, tmp_path):
    real_step = matrix.optimizer_step

    def step_that_fits_one_sample(model, optimizer, inputs, **kwargs):
        if inputs["input_ids"].shape[0] > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (fake)")
        return real_step(model, optimizer, inputs, **kwargs)

    monkeypatch.setattr(matrix, "optimizer_step", step_that_fits_one_sample)
    result, _ = run_main(["--dry-run", "--skip-zero", "--skip-qlora", "--grad-ckpt", "off", "--variants", "teamlora",
                          "--steps", "1", "--warmup", "0", "--batch", "4", "--json-out", str(tmp_path / "g.json")],
                         capsys)
    cells = result["train"]["sdpa"]["ckpt_off"]
    for variant in ("lora_kr", "teamlora"):
        assert cells[variant]["batch"] == 1 and cells[variant]["oom_batches"] == [4, 2]
        assert cells[variant]["step_ms"] > 0
    assert cells["moelora"]["skipped"].startswith("not requested")
    assert result["train"]["sdpa"]["ckpt_on"]["teamlora"]["skipped"].startswith("not requested")
    assert "--skip-qlora" in result["qlora"]["skipped"]


def test_adapters_swap_in_and_out_and_peaks_exclude_the_waiting_variants(monkeypatch):
    from teamlora import adapted_layers

    settings = dry_settings("--steps", "2", "--warmup", "1")
    config = model.dry_config()
    base = model.build_base(config, settings, "sdpa")
    adapters = {v: Adapter(base, v, settings) for v in ("lora_kr", "teamlora", "moelora_loop")}
    assert not list(adapted_layers(base))  # built, then set aside
    adapters["teamlora"].install(base)
    assert len(list(adapted_layers(base))) == 2 * 3  # FFN gate/up/down in 2 layers
    adapters["teamlora"].uninstall(base)
    assert not list(adapted_layers(base))
    assert not any(p.requires_grad for n, p in base.named_parameters() if PROJECTOR not in n)

    # pretend to be on CUDA: every step "peaks" at 1 GiB; what the other variants hold is subtracted
    fake_peak = 2 ** 30

    def fake_timed_step(step, settings):
        step()
        return Sample(0.01, 0.01, 1, peak_bytes=fake_peak)

    monkeypatch.setattr(matrix, "timed_step", fake_timed_step)
    cuda_settings = Settings(**{**settings.__dict__, "device": torch.device("cuda")})
    inputs = model.make_inputs(config, 2, 64, settings)
    result = matrix.measure_group(base, adapters, inputs, cuda_settings)
    resident = {n: a.resident_bytes() for n, a in adapters.items()}
    assert all(b > 0 for b in resident.values())
    for name in adapters:
        assert result.peaks[name] == fake_peak - sum(b for n, b in resident.items() if n != name)
        assert len(result.samples[name]) == 2 and math.isfinite(result.losses[name])
    assert not list(adapted_layers(base))


def test_a_failing_group_is_reported_not_fatal(monkeypatch, capsys, tmp_path):
    def broken_step(model, optimizer, inputs, **kwargs):
        raise ValueError("something GPU-specific broke")

    monkeypatch.setattr(matrix, "optimizer_step", broken_step)
    result, printed = run_main(["--dry-run", "--skip-zero", "--grad-ckpt", "off", "--variants", "teamlora",
                                "--steps", "1", "--warmup", "0", "--json-out", str(tmp_path / "g.json")], capsys)
    for variant in ("lora_kr", "teamlora"):
        cell = result["train"]["sdpa"]["ckpt_off"][variant]
        assert cell["skipped"] == "failed: ValueError: something GPU-specific broke" and cell["step_ms"] is None
    assert json.loads(printed[-1]) == json.loads(json.dumps(result))
