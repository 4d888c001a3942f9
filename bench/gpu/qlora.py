"""The QLoRA part: the bf16 base saved, loaded back 4-bit NF4 as `python -m llava.train.train --bits 4`
loads it, prepared for k-bit training, TeamLoRA on top, and its steps timed with their peak memory."""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Optional, Tuple

import torch

from ..e2e import optimizer_step
from ..harness import interleaved
from ..timing import median
from .adapters import Adapter
from .environment import first_attn, qlora_unavailable
from .memory import fit_batch, free_memory, tensor_bytes, timed_step
from .model import make_inputs, set_activation_checkpointing, slice_inputs
from .results import finite
from .settings import GIB, Settings


def qlora_quantization_config(dtype: torch.dtype):
    """llava.train.build's NF4 config: exactly what `--bits 4` trains with."""
    from llava.train.args import ModelArguments
    from llava.train.build import quantization_config

    return quantization_config(ModelArguments(model_name_or_path="unused", bits=4), dtype)


def empty_qlora(reason: Optional[str]) -> dict:
    return {"batch": None, "step_ms": None, "tokens_per_s": None, "peak_gib": None, "oom_batches": [],
            "attn": None, "grad_ckpt": None, "method": "teamlora", "quantization": "bitsandbytes nf4, double quant",
            "quantized_linear_layers": None, "loss": None, "skipped": reason}


def run_qlora_from(model_dir: Path, config, settings: Settings, attn: str, ckpt: bool) -> dict:
    """Load `model_dir` 4-bit, prepare it as `--bits 4` training does, add TeamLoRA, time steps.

    The random-weight base was saved with save_pretrained and is loaded back with a
    BitsAndBytesConfig: transformers does the NF4 replacement itself, exactly as for a real
    checkpoint, and no hub access is needed.
    """
    from peft import prepare_model_for_kbit_training
    from transformers import LlavaForConditionalGeneration

    from llava.model.builder import quantized_kwargs

    quant = qlora_quantization_config(torch.bfloat16)
    load_kwargs = quantized_kwargs(quant) if settings.cuda else {"quantization_config": quant,
                                                                   "device_map": {"": str(settings.device)}}
    model = LlavaForConditionalGeneration.from_pretrained(model_dir, dtype=torch.bfloat16,
                                                          attn_implementation=attn, **load_kwargs)
    model.config.use_cache = False
    n_quant = sum(1 for m in model.modules() if type(m).__name__ == "Linear4bit")
    # as llava.train.build: peft casts what is left unquantised to fp32; checkpointing through transformers'
    # current API (peft's use_gradient_checkpointing calls the deprecated gradient_checkpointing_enable)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    set_activation_checkpointing(model, ckpt)
    model.train()
    adapter = Adapter(model, "teamlora", settings, deepspeed_dtype=False)
    adapter.install(model)
    full_inputs = make_inputs(config, settings.batch, settings.seq_len, settings)
    # prepare_model_for_kbit_training upcast everything left unquantised (tower, projector, embeddings,
    # norms, lm_head) to fp32; the pixels follow the tower
    full_inputs["pixel_values"] = full_inputs["pixel_values"].to(next(model.model.vision_tower.parameters()).dtype)

    def amp():
        # `--bits 4 --bf16 True` runs the forward under the Trainer's bf16 autocast: do the same
        if settings.cuda:
            return torch.autocast(settings.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def run(batch: int):
        inputs = slice_inputs(full_inputs, batch)

        def step():
            return timed_step(lambda: optimizer_step(model, adapter.optimizer, inputs, autocast=amp()), settings)

        samples = interleaved({"teamlora": step}, settings.plan, timer=lambda one, _calls: one())["teamlora"]
        with torch.no_grad(), amp():
            loss = float(model(**slice_inputs(inputs, 1), use_cache=False).loss)
        return samples, loss

    def cleanup() -> None:
        adapter.zero_grad()
        free_memory(settings.device)

    fit = fit_batch(run, settings.batch, cleanup=cleanup, log=settings.log)
    result = empty_qlora(None)
    result.update(attn=attn, grad_ckpt="on" if ckpt else "off", oom_batches=fit.oom_batches,
                  quantized_linear_layers=n_quant)
    if fit.batch is None:
        result["skipped"] = "out of memory even at batch 1"
    else:
        samples, loss = fit.value
        step_s = median(s.wall_s for s in samples)
        peaks = [s.peak_bytes for s in samples if s.peak_bytes is not None]
        result.update(batch=fit.batch, step_ms=finite(1000 * step_s), loss=finite(loss),
                      tokens_per_s=finite(fit.batch * settings.seq_len / step_s) if step_s > 0 else None,
                      peak_gib=max(peaks) / GIB if peaks else None)
    return result  # the model goes with this frame; run_qlora frees the memory


def save_qlora_base(model, settings: Settings, work_dir: Path) -> Tuple[Optional[Path], Optional[str]]:
    """Save the bf16 base for the 4-bit load: (directory, None), or (None, why QLoRA is skipped)."""
    reason = qlora_unavailable(settings)
    if reason:
        return None, reason
    need = sum(tensor_bytes(p) for p in model.parameters())
    free = shutil.disk_usage(work_dir).free
    if free < 1.1 * need:
        return None, (f"not enough disk under {work_dir} for the temporary checkpoint "
                      f"({need / GIB:.1f} GiB needed, {free / GIB:.1f} GiB free); pass --work-dir")
    model_dir = work_dir / "qlora-base"
    settings.log(f"QLoRA: saving the bf16 base to {model_dir} ({need / GIB:.1f} GiB), then loading it 4-bit")
    model.save_pretrained(model_dir)
    return model_dir, None


def run_qlora(model_dir: Path, config, settings: Settings) -> dict:
    """The QLoRA measurement on the saved base; the temporary checkpoint is removed afterwards."""
    try:
        return run_qlora_from(model_dir, config, settings, first_attn(settings), "on" in settings.grad_ckpts)
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)
        free_memory(settings.device)
