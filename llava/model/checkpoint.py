"""What a training checkpoint holds, and how to load one for inference.

A checkpoint directory (every checkpoint-N and the final output) always holds:
  llava_run.json           how to rebuild the model: the base it was trained from and the training mode
  config.json              the LlavaConfig
  processor + tokenizer    (save_pretrained of the LlavaProcessor)
plus, by mode:
  "adapters":  adapter_config.json + adapter_model.safetensors (adapters and the projector, via teamlora)
  "projector": mm_projector.safetensors (stage 1 on a large model: only the projector trains)
  "full":      model.safetensors (the whole model, llava-hf layout)
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Tuple

import torch
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from teamlora import load_adapters

from .builder import compose_llava, load_llava, load_projector
from .original import resolve_llava_checkpoint

logger = logging.getLogger(__name__)

RUN_INFO_NAME = "llava_run.json"
PROJECTOR_NAME = "mm_projector.safetensors"
MODES = ("adapters", "projector", "full")


@dataclass(frozen=True)
class BaseModelSpec:
    """Enough to rebuild the base model: a LLaVA directory, or a language model + vision tower.

    An original LLaVA-1.5 checkpoint (LlavaLlamaForCausalLM) as model_name_or_path is converted on
    load (llava.model.original) and used whole, projector included, as LLaVA's train.py does when
    given a LLaVA model and --vision_tower (then the tower and --mm_vision_select_layer apply).
    """

    model_name_or_path: str
    vision_tower: Optional[str] = None
    mm_projector_type: str = "mlp2x_gelu"
    mm_vision_select_layer: int = -2
    pretrain_mm_mlp_adapter: Optional[str] = None

    def build(self, *, torch_dtype=None, attn_implementation=None, quantization_config=None
              ) -> Tuple[LlavaForConditionalGeneration, LlavaProcessor]:
        resolved = resolve_llava_checkpoint(self.model_name_or_path, self.vision_tower)
        if resolved != str(self.model_name_or_path):  # an original LLaVA checkpoint, now in llava-hf layout
            model, processor = load_llava(resolved, torch_dtype=torch_dtype, attn_implementation=attn_implementation,
                                          quantization_config=quantization_config)
            if self.vision_tower and model.config.vision_feature_layer != self.mm_vision_select_layer:
                logger.warning("--mm_vision_select_layer %d replaces the checkpoint's %d (as in LLaVA's train.py)",
                               self.mm_vision_select_layer, model.config.vision_feature_layer)
                model.config.vision_feature_layer = self.mm_vision_select_layer
        elif self.vision_tower:
            model, processor = compose_llava(
                self.model_name_or_path, self.vision_tower, projector=self.mm_projector_type,
                vision_feature_layer=self.mm_vision_select_layer, torch_dtype=torch_dtype,
                attn_implementation=attn_implementation, quantization_config=quantization_config,
            )
        else:
            model, processor = load_llava(self.model_name_or_path, torch_dtype=torch_dtype,
                                          attn_implementation=attn_implementation,
                                          quantization_config=quantization_config)
        if self.pretrain_mm_mlp_adapter:
            load_projector(model, self.pretrain_mm_mlp_adapter)
        return model, processor


def _portable(path: Optional[str]) -> Optional[str]:
    """Local paths are stored absolute so a checkpoint loads from any working directory; hub names as given."""
    if path is None:
        return None
    p = Path(path)
    return str(p.resolve()) if p.exists() else path


def write_run_info(output_dir: str | Path, base: BaseModelSpec, mode: str, extra: Optional[dict] = None) -> None:
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
    spec = asdict(base)
    for key in ("model_name_or_path", "vision_tower", "pretrain_mm_mlp_adapter"):
        spec[key] = _portable(spec[key])
    info = {"mode": mode, "base": spec, **(extra or {})}
    Path(output_dir, RUN_INFO_NAME).write_text(json.dumps(info, indent=2) + "\n")


def read_run_info(path: str | Path) -> Optional[dict]:
    file = Path(path) / RUN_INFO_NAME
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{file} is not valid JSON: {e}") from e


def pick_device_dtype(device: str, dtype: str) -> tuple[torch.device, torch.dtype]:
    """Resolve ``--device``/``--torch-dtype`` "auto": CUDA in bf16 (fp16 on GPUs without bf16) when
    present, else CPU in fp32 (bf16 is slow on CPU). Other values are taken as given."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        if device.startswith("cuda"):
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:
            dtype = "float32"
    return torch.device(device), getattr(torch, dtype)


def load_pretrained_model(
    model_path: str | Path,
    model_base: Optional[str] = None,
    *,
    torch_dtype=None,
    attn_implementation: Optional[str] = None,
) -> Tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """Load any checkpoint this project writes, or a llava-hf model, ready for generation (eval mode).

    model_base overrides the base recorded in llava_run.json (a moved base model, or LLaVA's --model-base).
    """
    info = read_run_info(model_path)
    if info is None:  # a plain llava-hf directory or hub name, or an original LLaVA checkpoint (converted here)
        model, processor = load_llava(resolve_llava_checkpoint(model_path), torch_dtype=torch_dtype,
                                      attn_implementation=attn_implementation)
        return model.eval(), processor
    mode = info["mode"]
    if mode == "full":
        model, processor = load_llava(model_path, torch_dtype=torch_dtype, attn_implementation=attn_implementation)
        return model.eval(), processor
    spec = BaseModelSpec(**info["base"])
    if model_base is not None:
        spec = BaseModelSpec(**{**asdict(spec), "model_name_or_path": model_base})
    model, _ = spec.build(torch_dtype=torch_dtype, attn_implementation=attn_implementation)
    processor = LlavaProcessor.from_pretrained(model_path)  # the run's own tokenizer and image settings
    if mode == "projector":
        load_projector(model, Path(model_path) / PROJECTOR_NAME)
    else:
        load_adapters(model, model_path)
    return model.eval(), processor
