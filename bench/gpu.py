"""GPU benchmark at LLaVA-1.5-7B shapes: adapter variants x attention x activation checkpointing,
a QLoRA (4-bit) TeamLoRA step, and a 2-step ZeRO-2 run through the deepspeed launcher.

    bash bench/gpu.sh                       # on a CUDA machine: everything, JSON to bench/results/
    python -m bench.gpu --json-out gpu.json # the same without the wrapper
    python -m bench.gpu --dry-run           # CPU, tiny shapes, seconds: the same code path (CI)

See `--help` for what is measured. The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.metadata
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

import torch
from torch import nn

from llava.model.tiny import num_image_tokens as image_tokens
from teamlora import adapted_layers, remove_adapters

from .cli import choices, require_min
from .e2e import llava_batch, optimizer_step
from .output import emit_json
from .timing import Sample, median, paired_ratio, time_block
from .variants import PROJECTOR, REFERENCE, VARIANTS, apply_variant

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VARIANTS = ("lora_kr", "moelora", "moelora_loop", "hydralora", "teamlora")
ATTNS = ("sdpa", "flash_attention_2")
GRAD_CKPT = ("on", "off")
FFN_TARGETS = ("gate_proj", "up_proj", "down_proj")  # DESIGN §2: the paper adapts the FFN only
GIB = float(2 ** 30)
T = TypeVar("T")

HELP = """\
What it measures (one command, one JSON object at the end):

1. Training step of a LLaVA-1.5-7B-shaped model with random weights, built from configs on the GPU
   in bf16 (no download): Llama 4096 hidden / 11008 intermediate / 32 layers / 32 heads / vocab
   32064, CLIP ViT-L/14-336 tower (1024 hidden, 24 layers, 16 heads, 336 px, patch 14 -> 576 image
   tokens), 2-layer GELU projector. One step = forward (loss on the text tokens) + backward +
   torch AdamW (fused on CUDA) over the trainable parameters (adapters + projector), bracketed by
   torch.cuda.synchronize(). For every attention implementation (--attn) x activation checkpointing
   (--grad-ckpt) x variant (--variants), FFN-only adapters (gate/up/down_proj), k=4 experts and
   r=32 per expert by default (--k, --r), scaling 2, dropout 0 (bench/variants.py), TeamLoRA in its
   default variant ("authors"); adapter weights in bf16, as DeepSpeed's bf16 engine (the 7B scripts'
   path) casts every parameter, with no autocast:
     lora_kr       LoRA of rank k*r = 128: the reference every ratio is taken over
     moelora       MoELoRA, fused forward
     moelora_loop  MoELoRA as a per-expert Python loop (the usual repository implementation)
     hydralora     HydraLoRA, fused forward
     teamlora      TeamLoRA, fused forward
   The base model is built once; every variant's adapters and AdamW are built once and kept beside
   it, and the variants are swapped in and out of the model (a module swap, not timed). Per round
   each variant runs one step, the order rotating between rounds; after --warmup rounds, --steps
   rounds are timed. Reported: median ms per step, tokens/s, peak memory, and the ratio over
   lora_kr = median over rounds of (variant step / lora_kr step in the same round).
   Peak memory is torch.cuda.max_memory_allocated() during the variant's steps minus the bytes of
   the other variants' adapters and optimizer state (resident only because of the interleaving):
   the peak a run training only that variant would reach.
   Batch: --batch x --seq-len tokens (576 image tokens + text). On CUDA out-of-memory the batch of
   that (attn, grad-ckpt) group is halved and the group measured again, until it fits; all variants
   of a group share the batch they all fit, so their ratios compare equal work. The batch used and
   the batches that ran out of memory are recorded per cell.
   flash_attention_2 runs only when the flash_attn package imports on a CUDA device; otherwise its
   cells are null with the reason. The defaults take roughly 15-20 minutes on one H100 (estimate).
2. QLoRA: the same base, saved to a temporary directory (--work-dir) and loaded back 4-bit NF4
   (double quantisation, bf16 compute; vision tower, projector and lm_head unquantised) through
   transformers' BitsAndBytesConfig, then peft.prepare_model_for_kbit_training and TeamLoRA adapters
   on top, as `python -m llava.train.train --bits 4` does (forward under bf16 autocast, like the
   Trainer's --bf16; the skip list names the modules by their full transformers-5 paths, see
   qlora_quantization_config). Step time (median of --steps after
   --warmup) and peak memory, with the same out-of-memory back-off. The first attention
   implementation of --attn that is available and activation checkpointing "on" (if requested)
   are used. Needs ~14 GB free disk for the temporary checkpoint. Skipped, with the reason, without
   CUDA or bitsandbytes.
3. ZeRO-2: a real 2-step `deepspeed --num_gpus 1 --module llava.train.train ... --deepspeed
   scripts/zero2.json --bf16 True --max_steps 2` run (TeamLoRA) on a tiny LLaVA and synthetic data
   generated under --work-dir; reported: that it finished, its mean step time (train_runtime /
   steps from trainer_state.json, so the first step's start-up is included), and that the
   checkpoint loads with llava.model.checkpoint.load_pretrained_model. Note: the deepspeed
   launcher ignores CUDA_VISIBLE_DEVICES when --num_gpus is given, so this run uses GPU 0.
   On CPU the first launch JIT-compiles DeepSpeed's shm-comm op (~2 minutes, cached afterwards).

A part that fails (an exception other than out-of-memory) is reported as "failed: <error>" in its
"skipped" field, with the traceback in the log, and the remaining parts still run.

--dry-run: the same code path on CPU in seconds, for CI: a tiny LLaVA (tiny_llava_config), batch 2
x 64 tokens, fp32, sdpa only; flash-attention and QLoRA cells are null with a reason; the ZeRO-2 run
uses the CPU (--use_cpu, gloo) unless --skip-zero. Peak memory is null on CPU. The JSON has the
same keys as a GPU run. Without --dry-run a CUDA device is required.

JSON (last line): benchmark, dry_run, device, versions{torch, transformers, peft, deepspeed,
flash_attn, bitsandbytes, cuda, python}, model{...}, settings{...}, skipped_attn{attn: reason|null},
train{attn: {"ckpt_on"|"ckpt_off": {variant: {batch, step_ms, tokens_per_s, peak_gib,
over_lora_kr, loss, oom_batches, skipped}}}}, ratios{"<attn>_ckpt_<on|off>_<variant>_over_lora_kr"},
qlora{...}, zero2{...}. A skipped part has null values and a reason string in "skipped".
"""


# ----------------------------------------------------------------------------------------------
# configuration


@dataclass
class Settings:
    device: torch.device
    dtype: torch.dtype
    dry_run: bool
    batch: int
    seq_len: int
    steps: int
    warmup: int
    attns: List[str]
    grad_ckpts: List[str]
    variants: List[str]
    k: int = 4
    r: int = 32
    lr: float = 1e-5
    skip_qlora: bool = False
    skip_zero: bool = False
    work_dir: Optional[str] = None
    zero_timeout_s: int = 1800
    log: Callable[[str], None] = field(default=lambda msg: print(msg, flush=True))

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


def llava7b_config():
    """LLaVA-1.5-7B as llava-hf/llava-1.5-7b-hf ships it: Vicuna-7B + CLIP ViT-L/14-336 + mlp2x_gelu."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                              image_size=336, patch_size=14, projection_dim=768, hidden_act="quick_gelu")
    text = LlamaConfig(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096,
                       rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=32001,
                       tie_word_embeddings=False)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=32000, vision_feature_layer=-2,
                         vision_feature_select_strategy="default", projector_hidden_act="gelu")
    config.image_seq_length = 576
    return config


def dry_config():
    """The dry run's tiny LLaVA (16 image tokens)."""
    from llava.model.tiny import tiny_llava_config

    return tiny_llava_config(vocab_size=256, image_token_id=255, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                             image_size=64, patch_size=16, vision_hidden=32, vision_layers=1, text_hidden=64,
                             text_layers=2, max_length=512)


# ----------------------------------------------------------------------------------------------
# environment


def _version(dist: str) -> Optional[str]:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> Dict[str, Optional[str]]:
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": _version("peft"),
        "deepspeed": _version("deepspeed"),
        "flash_attn": _version("flash-attn") or _version("flash_attn"),
        "bitsandbytes": _version("bitsandbytes"),
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
    }


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _import_error(module: str) -> Optional[str]:
    try:
        importlib.import_module(module)
    except Exception as err:  # ImportError, or a broken CUDA extension raising something else
        return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}".strip()
    return None


def attn_unavailable(attn: str, settings: Settings) -> Optional[str]:
    """None when `attn` can run here, else why not."""
    if attn == "sdpa":
        return None
    if attn == "flash_attention_2":
        err = _import_error("flash_attn")
        if err:
            return f"flash_attn does not import ({err}); install the gpu extra: pip install '.[gpu]'"
        if not settings.cuda:
            return "flash_attention_2 needs a CUDA device; this run is on CPU"
        return None
    return f"unknown attention implementation {attn!r}"


def qlora_unavailable(settings: Settings) -> Optional[str]:
    if settings.skip_qlora:
        return "skipped by --skip-qlora"
    if not settings.cuda:
        return "QLoRA (bitsandbytes 4-bit) runs on a CUDA device only; this run is on CPU"
    err = _import_error("bitsandbytes")
    if err:
        return f"bitsandbytes does not import ({err}); install the gpu extra: pip install '.[gpu]'"
    return None


# ----------------------------------------------------------------------------------------------
# out-of-memory back-off


def is_oom(err: BaseException) -> bool:
    if isinstance(err, torch.OutOfMemoryError):  # torch.cuda.OutOfMemoryError is the same class
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


@dataclass
class Fit:
    batch: Optional[int]  # the batch that fitted; None when even batch 1 ran out of memory
    value: object
    oom_batches: List[int]


def fit_batch(run: Callable[[int], T], batch: int, *, cleanup: Callable[[], None] = lambda: None,
              log: Callable[[str], None] = print) -> Fit:
    """run(batch); on out-of-memory free memory, halve the batch and try again (down to 1)."""
    ooms: List[int] = []
    while batch >= 1:
        try:
            return Fit(batch, run(batch), ooms)
        except Exception as err:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
            if not is_oom(err):
                raise
            first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        # outside the except block: the traceback (and the activations its frames hold) is released
        ooms.append(batch)
        cleanup()
        log(f"    out of memory at batch {batch} ({first_line[:120]}); retrying with batch {batch // 2}")
        batch //= 2
    return Fit(None, None, ooms)


# ----------------------------------------------------------------------------------------------
# model, inputs, variants


def build_base(config, settings: Settings, attn: str):
    """Random-weight LLaVA built directly on the device in the benchmark dtype."""
    from transformers import LlavaForConditionalGeneration

    with torch.device(settings.device):
        model = LlavaForConditionalGeneration._from_config(config, dtype=settings.dtype, attn_implementation=attn)
    model.config.use_cache = False
    model.config.text_config.use_cache = False
    return model.train()


def make_inputs(config, batch: int, seq_len: int, settings: Settings, seed: int = 0) -> Dict[str, torch.Tensor]:
    """<bos> <image>*N text...: labels on the text only; text ids below the image token's id."""
    vocab, image_id = config.text_config.vocab_size, config.image_token_index
    return llava_batch(config, batch, seq_len, seed=seed, labels=True, text_ids=(3, min(vocab, image_id)),
                       device=settings.device, pixel_dtype=settings.dtype, what="--seq-len")


def slice_inputs(inputs: Dict[str, torch.Tensor], batch: int) -> Dict[str, torch.Tensor]:
    return {k: v[:batch] for k, v in inputs.items()}


def make_optimizer(params: Sequence[nn.Parameter], settings: Settings) -> torch.optim.Optimizer:
    # fused AdamW on CUDA, as the Trainer's default (adamw_torch_fused); its states follow each param's dtype
    return torch.optim.AdamW(list(params), lr=settings.lr, fused=True if settings.cuda else None)


def set_activation_checkpointing(model, on: bool) -> None:
    """transformers 5 renamed gradient_checkpointing_* to activation_checkpointing_* (the old names warn)."""
    if on:
        enable = getattr(model, "activation_checkpointing_enable", None)
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        disable = getattr(model, "activation_checkpointing_disable", None) or model.gradient_checkpointing_disable
        disable()


def _tensor_bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


class Adapter:
    """One variant's adapted layers (and AdamW), kept outside the model while another variant trains."""

    def __init__(self, model, variant: str, settings: Settings, *, deepspeed_dtype: bool = True):
        self.name = variant
        apply_variant(model, variant, settings.k, settings.r, targets=FFN_TARGETS)
        self.layers: Dict[str, nn.Module] = dict(adapted_layers(model))
        self.bases: Dict[str, nn.Module] = {name: layer.base for name, layer in self.layers.items()}
        self.own_params = [p for layer in self.layers.values() for n, p in layer.named_parameters()
                           if not n.startswith("base.")]
        # teamlora makes adapters float32 under a bf16 base (for autocast, as PEFT); the 7B scripts train
        # under DeepSpeed, whose bf16 engine casts every parameter to bf16 and keeps float32 masters in its
        # optimizer: measure that path (deepspeed_dtype=False keeps teamlora's float32, as QLoRA trains)
        for p in self.own_params if deepspeed_dtype else ():
            p.data = p.data.to(settings.dtype)
        shared = [p for n, p in model.named_parameters() if PROJECTOR in n and p.requires_grad]
        self.optimizer = make_optimizer(self.own_params + shared, settings)
        remove_adapters(model)  # the wrappers (and their parameters) live on in self.layers

    def install(self, model) -> None:
        for name, layer in self.layers.items():
            model.set_submodule(name, layer)

    def uninstall(self, model) -> None:
        for name, base in self.bases.items():
            model.set_submodule(name, base)

    def resident_bytes(self) -> int:
        """Adapter parameters + every optimizer state tensor (the projector's weights are part of the base)."""
        total = sum(_tensor_bytes(p) for p in self.own_params)
        for state in self.optimizer.state.values():
            total += sum(_tensor_bytes(v) for v in state.values() if torch.is_tensor(v))
        return total

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)


def _sync(settings: Settings) -> None:
    if settings.cuda:
        torch.cuda.synchronize(settings.device)


def timed_step(step: Callable[[], object], settings: Settings) -> Tuple[Sample, Optional[int]]:
    """One synchronised step: its Sample and (on CUDA) the peak bytes allocated during it."""
    _sync(settings)
    if settings.cuda:
        torch.cuda.reset_peak_memory_stats(settings.device)
    sample = time_block(lambda: (step(), _sync(settings)), 1)
    peak = torch.cuda.max_memory_allocated(settings.device) if settings.cuda else None
    return sample, peak


@dataclass
class GroupResult:
    samples: Dict[str, List[Sample]]
    peaks: Dict[str, Optional[int]]  # adjusted: minus the other variants' resident bytes
    losses: Dict[str, float]


def measure_group(model, adapters: Dict[str, Adapter], inputs: Dict[str, torch.Tensor],
                  settings: Settings) -> GroupResult:
    """Warm-up rounds, then timed rounds; each round runs every variant once, the order rotating."""
    order = list(adapters)
    samples: Dict[str, List[Sample]] = {v: [] for v in order}
    peak_lists: Dict[str, List[int]] = {v: [] for v in order}
    losses: Dict[str, float] = {}
    for rnd in range(settings.warmup + settings.steps):
        shift = rnd % len(order)
        for name in order[shift:] + order[:shift]:
            adapter = adapters[name]
            # bytes resident only because the other variants wait beside the model (counted before the step,
            # so states created by a late first step are included exactly when they exist)
            others = sum(a.resident_bytes() for n, a in adapters.items() if n != name) if settings.cuda else 0
            adapter.install(model)
            try:
                sample, peak = timed_step(lambda: optimizer_step(model, adapter.optimizer, inputs), settings)
            finally:
                adapter.uninstall(model)
            if rnd >= settings.warmup:
                samples[name].append(sample)
                if peak is not None:
                    peak_lists[name].append(peak - others)
    # one loss per variant, read after timing (reading it inside would add a sync to the step)
    for name in order:
        adapters[name].install(model)
        try:
            with torch.no_grad():
                losses[name] = float(model(**slice_inputs(inputs, 1), use_cache=False).loss)
        finally:
            adapters[name].uninstall(model)
    peaks = {name: max(values) if values else None for name, values in peak_lists.items()}
    return GroupResult(samples, peaks, losses)


def failure(err: BaseException) -> str:
    return f"failed: {type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"


def empty_cell(reason: Optional[str]) -> dict:
    return {"batch": None, "step_ms": None, "tokens_per_s": None, "peak_gib": None, "over_lora_kr": None,
            "loss": None, "oom_batches": [], "skipped": reason}


def _finite(x: float) -> Optional[float]:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


def group_cells(result: GroupResult, batch: int, oom_batches: List[int], settings: Settings) -> Dict[str, dict]:
    cells = {}
    ref = result.samples.get(REFERENCE)
    for name, samples in result.samples.items():
        step_s = median(s.wall_s for s in samples)
        cell = empty_cell(None)
        cell.update(
            batch=batch,
            step_ms=_finite(1000.0 * step_s),
            tokens_per_s=_finite(batch * settings.seq_len / step_s) if step_s > 0 else None,
            peak_gib=None if result.peaks[name] is None else result.peaks[name] / GIB,
            over_lora_kr=_finite(paired_ratio(samples, ref)) if ref else None,
            oom_batches=list(oom_batches),
            loss=_finite(result.losses.get(name, float("nan"))),
        )
        cells[name] = cell
    return cells


def run_train_matrix(model, config, settings: Settings) -> Tuple[dict, Dict[str, Optional[str]]]:
    """train[attn]["ckpt_on"|"ckpt_off"][variant] for every requested cell (model: the shared base)."""
    log = settings.log
    all_variants = list(dict.fromkeys(list(DEFAULT_VARIANTS) + settings.variants))
    all_attns = list(dict.fromkeys(list(ATTNS) + settings.attns))
    train: dict = {}
    skipped_attn: Dict[str, Optional[str]] = {}
    for attn in all_attns:
        reason = attn_unavailable(attn, settings) or (None if attn in settings.attns else "not requested (--attn)")
        skipped_attn[attn] = reason
        train[attn] = {}
        for ckpt in GRAD_CKPT:
            ckpt_reason = reason or (None if ckpt in settings.grad_ckpts else "not requested (--grad-ckpt)")
            train[attn][f"ckpt_{ckpt}"] = {
                v: empty_cell(ckpt_reason or (None if v in settings.variants else "not requested (--variants)"))
                for v in all_variants
            }
    runnable = [a for a in settings.attns if skipped_attn[a] is None]
    for attn in settings.attns:
        if skipped_attn[attn]:
            log(f"attention {attn}: skipped: {skipped_attn[attn]}")
    if not runnable:
        return train, skipped_attn

    full_inputs = make_inputs(config, settings.batch, settings.seq_len, settings)
    log(f"building adapters for {', '.join(settings.variants)} (k={settings.k}, r={settings.r}, FFN only)")
    adapters = {v: Adapter(model, v, settings) for v in settings.variants}

    def cleanup() -> None:
        for a in adapters.values():
            a.zero_grad()
            a.uninstall(model)
        free_memory(settings.device)

    for attn in runnable:
        try:
            model.set_attn_implementation(attn)
        except Exception as err:  # noqa: BLE001 - reported in the table and JSON, the rest goes on
            skipped_attn[attn] = f"set_attn_implementation({attn!r}) failed: {err}"
            log(f"attention {attn}: skipped: {skipped_attn[attn]}")
            for cells in train[attn].values():
                for cell in cells.values():
                    cell["skipped"] = cell["skipped"] or skipped_attn[attn]
            continue
        for ckpt in settings.grad_ckpts:
            set_activation_checkpointing(model, ckpt == "on")
            log(f"attention {attn}, activation checkpointing {ckpt}: batch {settings.batch} x {settings.seq_len} "
                f"tokens, {settings.warmup} warm-up + {settings.steps} timed rounds")
            cells = train[attn][f"ckpt_{ckpt}"]
            try:
                fit = fit_batch(lambda b: measure_group(model, adapters, slice_inputs(full_inputs, b), settings),
                                settings.batch, cleanup=cleanup, log=log)
            except Exception as err:  # noqa: BLE001 - one failed group must not lose the others' results
                reason = failure(err)
                log(f"    {attn} {ckpt}: {reason}\n{traceback.format_exc()}")
                for v in settings.variants:
                    cells[v]["skipped"] = reason
                cleanup()
                continue
            if fit.batch is None:
                for v in settings.variants:
                    cells[v].update(oom_batches=fit.oom_batches, skipped="out of memory even at batch 1")
            else:
                cells.update(group_cells(fit.value, fit.batch, fit.oom_batches, settings))
            cleanup()
    set_activation_checkpointing(model, False)
    for a in adapters.values():
        a.uninstall(model)
    adapters.clear()
    free_memory(settings.device)
    return train, skipped_attn


def flat_ratios(train: dict) -> Dict[str, Optional[float]]:
    out = {}
    for attn, by_ckpt in train.items():
        for ckpt, cells in by_ckpt.items():
            for variant, cell in cells.items():
                if variant != REFERENCE:
                    out[f"{attn}_{ckpt}_{variant}_over_{REFERENCE}"] = cell["over_lora_kr"]
    return out


# ----------------------------------------------------------------------------------------------
# QLoRA


def qlora_quantization_config(dtype: torch.dtype):
    """llava.train.setup's NF4 config: exactly what `--bits 4` trains with."""
    from llava.train.args import ModelArguments
    from llava.train.setup import quantization_config

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
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=ckpt,
                                            gradient_checkpointing_kwargs={"use_reentrant": False})
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

    def step(inputs):
        optimizer_step(model, adapter.optimizer, inputs, autocast=amp())

    def run(batch: int):
        inputs = slice_inputs(full_inputs, batch)
        samples, peaks = [], []
        for i in range(settings.warmup + settings.steps):
            sample, peak = timed_step(lambda: step(inputs), settings)
            if i >= settings.warmup:
                samples.append(sample)
                peaks.append(peak)
        with torch.no_grad(), amp():
            loss = float(model(**slice_inputs(inputs, 1), use_cache=False).loss)
        return samples, peaks, loss

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
        samples, peaks, loss = fit.value
        step_s = median(s.wall_s for s in samples)
        real_peaks = [p for p in peaks if p is not None]
        result.update(batch=fit.batch, step_ms=_finite(1000 * step_s), loss=_finite(loss),
                      tokens_per_s=_finite(fit.batch * settings.seq_len / step_s) if step_s > 0 else None,
                      peak_gib=max(real_peaks) / GIB if real_peaks else None)
    return result  # the model goes with this frame; run_qlora frees the memory


def save_qlora_base(model, settings: Settings, work_dir: Path) -> Tuple[Optional[Path], Optional[str]]:
    """Save the bf16 base for the 4-bit load: (directory, None), or (None, why QLoRA is skipped)."""
    reason = qlora_unavailable(settings)
    if reason:
        return None, reason
    need = sum(_tensor_bytes(p) for p in model.parameters())
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
    attn = next((a for a in settings.attns if attn_unavailable(a, settings) is None), "sdpa")
    try:
        return run_qlora_from(model_dir, config, settings, attn, "on" in settings.grad_ckpts)
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)
        free_memory(settings.device)


# ----------------------------------------------------------------------------------------------
# ZeRO-2 through the deepspeed launcher


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
        return empty_zero2("skipped by --skip-zero")
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


# ----------------------------------------------------------------------------------------------
# output


def _fmt(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _count(n: Optional[int]) -> str:
    if n is None:
        return "?"
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.2f}M"


def format_tables(result: dict) -> str:
    lines = [f"Device: {result['device']}   " + "  ".join(f"{k} {v}" for k, v in result["versions"].items()),
             f"Model: {result['model']['name']} ({_count(result['model']['params'])} parameters, "
             f"{result['model']['dtype']}, {result['model']['image_tokens']} image tokens); "
             f"adapters on {', '.join(result['settings']['targets'])}, k={result['settings']['k']}, "
             f"r={result['settings']['r']}",
             "",
             "| attn | act. ckpt | variant | batch | step (ms) | tokens/s | peak (GiB) | x lora_kr |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    notes = []
    for attn, by_ckpt in result["train"].items():
        attn_reason = result["skipped_attn"].get(attn)
        if attn_reason and not attn_reason.startswith("not requested"):
            notes.append(f"{attn}: {attn_reason}")
        for ckpt, cells in by_ckpt.items():
            for variant, c in cells.items():
                if c["skipped"] and c["batch"] is None:
                    continue
                oom = f" (OOM at {','.join(map(str, c['oom_batches']))})" if c["oom_batches"] else ""
                lines.append(f"| {attn} | {ckpt.removeprefix('ckpt_')} | {variant} | {_fmt(c['batch'], 'd')}{oom} | "
                             f"{_fmt(c['step_ms'], '.1f')} | {_fmt(c['tokens_per_s'], '.0f')} | "
                             f"{_fmt(c['peak_gib'], '.2f')} | {_fmt(c['over_lora_kr'], '.3f')} |")
            bad = {c["skipped"] for c in cells.values() if c["skipped"] and c["batch"] is None
                   and not c["skipped"].startswith("not requested")
                   and c["skipped"] != result["skipped_attn"].get(attn)}
            notes.extend(f"{attn} {ckpt}: {reason}" for reason in sorted(bad))
    q = result["qlora"]
    lines += ["", "| QLoRA (nf4) TeamLoRA | attn | act. ckpt | batch | step (ms) | tokens/s | peak (GiB) |",
              "|---|---|---|---:|---:|---:|---:|"]
    if q["batch"] is not None:
        lines.append(f"| teamlora | {q['attn']} | {q['grad_ckpt']} | {q['batch']} | {_fmt(q['step_ms'], '.1f')} | "
                     f"{_fmt(q['tokens_per_s'], '.0f')} | {_fmt(q['peak_gib'], '.2f')} |")
    else:
        lines.append(f"| skipped: {q['skipped']} | | | | | | |")
    z = result["zero2"]
    if z["skipped"] and z["finished"] is None:
        lines += ["", f"ZeRO-2 (deepspeed launcher, 1 process): skipped: {z['skipped']}"]
    else:
        lines += ["", f"ZeRO-2 (deepspeed launcher, 1 process, tiny LLaVA, TeamLoRA): finished={z['finished']} "
                      f"steps={z['steps']} step time={_fmt(z['step_time_s'], '.3f')} s (train_runtime / steps) "
                      f"checkpoint loaded={z['checkpoint_loaded']} (log: {z['log']})"]
        if z["skipped"]:
            lines.append(f"  {z['skipped']}")
    if notes:
        lines += ["", "Skipped:"] + [f"  {n}" for n in notes]
    lines += ["", "Peak memory: max_memory_allocated during the variant's steps, minus the other variants' "
                  "adapters and optimizer state (resident only for the interleaving).",
              "x lora_kr: median over rounds of the step time over lora_kr's in the same round (below 1 = faster)."]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# command line


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.gpu", description=HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true",
                   help="CPU, tiny LLaVA, batch 2 x 64 tokens, fp32, sdpa only, 2 timed steps: checks the code runs")
    p.add_argument("--batch", type=int, default=None,
                   help="starting batch, halved on out-of-memory (default 16; dry run 2)")
    p.add_argument("--seq-len", type=int, default=None,
                   help="tokens per sample, image tokens included (default 2048; dry run 64)")
    p.add_argument("--steps", type=int, default=None, help="timed rounds per group (default 5; dry run 2)")
    p.add_argument("--warmup", type=int, default=None, help="untimed warm-up rounds per group (default 2; dry run 1)")
    p.add_argument("--attn", default=None, help="comma list from sdpa,flash_attention_2 (default both; dry run sdpa)")
    p.add_argument("--grad-ckpt", default="on,off", help="activation checkpointing settings, comma list from on,off")
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                   help=f"comma list from {', '.join(VARIANTS)} (lora_kr, the reference, is always added)")
    p.add_argument("--k", type=int, default=4, help="experts (default 4)")
    p.add_argument("--r", type=int, default=32, help="rank per expert (default 32; lora_kr has rank k*r)")
    p.add_argument("--skip-qlora", action="store_true", help="skip the bitsandbytes 4-bit TeamLoRA step")
    p.add_argument("--skip-zero", action="store_true", help="skip the 2-step ZeRO-2 deepspeed-launcher run")
    p.add_argument("--work-dir", default=None,
                   help="where the QLoRA checkpoint and the ZeRO-2 run go (default: a temporary directory, removed)")
    p.add_argument("--json-out", default=None, help="also write the JSON result to this file")
    args = p.parse_args(argv)
    args.attn = choices(args.attn, ATTNS, "--attn", p) if args.attn else (["sdpa"] if args.dry_run else list(ATTNS))
    args.grad_ckpt = choices(args.grad_ckpt, GRAD_CKPT, "--grad-ckpt", p)
    args.variants = choices(args.variants, VARIANTS, "--variants", p)
    if REFERENCE not in args.variants:
        args.variants.insert(0, REFERENCE)
    require_min(p, args, 1, "batch", "seq_len", "steps")
    require_min(p, args, 0, "warmup")
    return args


def settings_for(args: argparse.Namespace, device: torch.device) -> Settings:
    dry = args.dry_run
    return Settings(
        device=device,
        dtype=torch.float32 if dry else torch.bfloat16,
        dry_run=dry,
        batch=args.batch or (2 if dry else 16),
        seq_len=args.seq_len or (64 if dry else 2048),
        steps=args.steps or (2 if dry else 5),
        warmup=args.warmup if args.warmup is not None else (1 if dry else 2),
        attns=args.attn,
        grad_ckpts=args.grad_ckpt,
        variants=args.variants,
        k=args.k,
        r=args.r,
        skip_qlora=args.skip_qlora,
        skip_zero=args.skip_zero,
        work_dir=args.work_dir,
    )


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        print("bench.gpu: no CUDA device is visible (torch.cuda.is_available() is False). This benchmark needs "
              "a GPU; pass --dry-run to exercise the code path on CPU with tiny shapes.", file=sys.stderr)
        raise SystemExit(2)
    device = torch.device("cpu") if args.dry_run else torch.device("cuda", torch.cuda.current_device())
    settings = settings_for(args, device)
    torch.manual_seed(0)
    config = dry_config() if settings.dry_run else llava7b_config()
    n_img = image_tokens(config)
    if settings.seq_len < n_img + 2:
        raise SystemExit(f"bench.gpu: --seq-len {settings.seq_len} cannot hold {n_img} image tokens plus text")

    result = {
        "benchmark": "gpu",
        "dry_run": settings.dry_run,
        "device": device_name(device),
        "gpu_memory_gib": torch.cuda.get_device_properties(device).total_memory / GIB if settings.cuda else None,
        "versions": versions(),
        "model": {"name": "tiny-llava (dry run)" if settings.dry_run else "llava-1.5-7b-shaped (random weights)",
                  "params": None, "dtype": str(settings.dtype).removeprefix("torch."), "image_tokens": n_img},
        "settings": {"batch": settings.batch, "seq_len": settings.seq_len, "steps": settings.steps,
                     "warmup": settings.warmup, "attn": settings.attns, "grad_ckpt": settings.grad_ckpts,
                     "variants": settings.variants, "k": settings.k, "r": settings.r,
                     "targets": list(FFN_TARGETS), "lr": settings.lr},
    }
    log = settings.log
    log(f"bench.gpu on {result['device']}{' (dry run)' if settings.dry_run else ''}")

    tmp = None
    if settings.work_dir:
        work_dir = Path(settings.work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-gpu-")
        work_dir = Path(tmp.name)
    try:
        first_attn = next((a for a in settings.attns if attn_unavailable(a, settings) is None), "sdpa")
        log(f"building the base model ({result['model']['name']}, {result['model']['dtype']}, attn {first_attn})")
        start = time.perf_counter()
        model = build_base(config, settings, first_attn)
        result["model"]["params"] = sum(p.numel() for p in model.parameters())
        result["model"]["build_s"] = time.perf_counter() - start
        train, skipped_attn = run_train_matrix(model, config, settings)
        result["skipped_attn"] = skipped_attn
        result["train"] = train
        result["ratios"] = flat_ratios(train)

        # the GPU-only parts below cannot be exercised on a CPU machine: a failure is reported, not fatal
        try:
            qlora_dir, qlora_reason = save_qlora_base(model, settings, work_dir)
        except Exception as err:  # noqa: BLE001
            log(f"QLoRA: {failure(err)}\n{traceback.format_exc()}")
            qlora_dir, qlora_reason = None, failure(err)
            shutil.rmtree(work_dir / "qlora-base", ignore_errors=True)
        del model
        free_memory(device)
        try:
            result["qlora"] = empty_qlora(qlora_reason) if qlora_dir is None else run_qlora(qlora_dir, config, settings)
        except Exception as err:  # noqa: BLE001
            log(f"QLoRA: {failure(err)}\n{traceback.format_exc()}")
            result["qlora"] = empty_qlora(failure(err))
        free_memory(device)
        try:
            result["zero2"] = run_zero2(settings, work_dir)
        except Exception as err:  # noqa: BLE001
            log(f"ZeRO-2: {failure(err)}\n{traceback.format_exc()}")
            result["zero2"] = {**empty_zero2(failure(err)), "finished": False}
    finally:
        if tmp is not None:
            tmp.cleanup()

    print()
    print(format_tables(result))
    print()
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    return emit_json(result, args.json_out)


if __name__ == "__main__":
    main()
