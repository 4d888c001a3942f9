"""bench.gpu.qlora on CPU: the dry run reports QLoRA as skipped, so this is its only CPU coverage."""
import math

import pytest

from bench.gpu import model, qlora

from .gpu_fixtures import dry_settings


def test_qlora_step_on_cpu_when_bitsandbytes_is_present(tmp_path):
    """The 4-bit path itself (save, NF4 load, prepare_model_for_kbit_training, TeamLoRA, steps); bitsandbytes
    0.50 quantises on CPU too."""
    pytest.importorskip("bitsandbytes")
    import torch

    settings = dry_settings("--steps", "1", "--warmup", "0")
    config = model.dry_config()
    base = model.build_base(config, settings, "sdpa")
    base.to(torch.bfloat16).save_pretrained(tmp_path / "base")
    result = qlora.run_qlora_from(tmp_path / "base", config, settings, "sdpa", True)
    assert result["skipped"] is None and result["batch"] == 2 and result["step_ms"] > 0
    assert math.isfinite(result["loss"])
    # only the language model's 14 Linear layers (2 layers x 7): tower, projector and lm_head stay unquantised
    assert result["quantized_linear_layers"] == 2 * 7
