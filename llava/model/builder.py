"""Build and load real LLaVA-1.5 models: compose Vicuna + CLIP + a fresh projector, load a
stage-1 projector, load a llava-hf directory.

transformers' Llava (v5) holds the parts as ``model.vision_tower`` (CLIPVisionModel),
``model.multi_modal_projector`` (linear_1 -> GELU -> linear_2), ``model.language_model``
(the decoder, e.g. LlamaModel) and ``lm_head``.
"""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Mapping, Optional

import torch
from safetensors.torch import load_file, save_file
from tokenizers import AddedToken
from transformers import (
    AutoImageProcessor,
    AutoModelForCausalLM,
    AutoProcessor,
    AutoTokenizer,
    CLIPVisionModel,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
)
from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled
from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

from llava.entry import FlagError

from .config import llava_config

logger = logging.getLogger(__name__)


class ModelFilesError(ValueError):
    """Model files that do not fit together (projector weights, processor and model); the message names the path."""


PROJECTOR_PREFIX = "multi_modal_projector."
# Original LLaVA names its projector nn.Sequential(Linear, GELU, Linear): indices 0 and 2.
ORIGINAL_PROJECTOR_LAYERS = {"0": "linear_1", "2": "linear_2"}


def pick_attn_implementation(requested: Optional[str] = None) -> str:
    """flash_attention_2 when flash-attn is importable and CUDA is up; otherwise sdpa.

    An explicit "eager"/"sdpa" is kept; an explicit flash_attention_2 that cannot run
    falls back to sdpa with a warning (so GPU scripts still run on a CPU box).
    """
    flash_ok = importlib.util.find_spec("flash_attn") is not None and torch.cuda.is_available()
    if requested in (None, "auto"):
        return "flash_attention_2" if flash_ok else "sdpa"
    if requested == "flash_attention_2" and not flash_ok:
        logger.warning("flash_attention_2 requested but flash-attn/CUDA unavailable; using sdpa")
        return "sdpa"
    return requested


def _dtype_kwargs(torch_dtype) -> dict:
    return {} if torch_dtype is None else {"dtype": torch_dtype}


def quantized_kwargs(quantization_config) -> dict:
    """from_pretrained arguments for a bitsandbytes-quantised load: the config, placed on this rank's GPU."""
    if quantization_config is None:
        return {}
    return {"quantization_config": quantization_config, "device_map": {"": torch.cuda.current_device()}}


def prepare_tokenizer(tokenizer, image_token: str) -> None:
    """Add the image token (one special id) and a pad token; LLaVA pads Vicuna with <unk>."""
    if image_token not in tokenizer.get_vocab():
        tokenizer.add_tokens([AddedToken(image_token, special=True, normalized=False)], special_tokens=True)
    if tokenizer.pad_token is None:
        if tokenizer.unk_token is not None:
            tokenizer.pad_token = tokenizer.unk_token
        else:
            tokenizer.add_special_tokens({"pad_token": "<pad>"})


def _assemble(config: LlavaConfig, language_model, vision_tower) -> LlavaForConditionalGeneration:
    """Put loaded sub-models into a Llava shell; only the projector is newly initialised."""
    dtype = language_model.dtype
    if is_deepspeed_zero3_enabled():
        # Under ZeRO-3 the shell is built partitioned; its projector is already initialised.
        model = LlavaForConditionalGeneration._from_config(config, dtype=dtype)
    else:
        # A meta shell costs no memory and no random init of a second 7B model.
        with torch.device("meta"):
            model = LlavaForConditionalGeneration._from_config(config, dtype=dtype)
        model.model.multi_modal_projector = LlavaMultiModalProjector(config).to(dtype)
    model.model.language_model = language_model.get_decoder()
    model.lm_head = language_model.get_output_embeddings()
    model.model.vision_tower = vision_tower
    left_on_meta = [name for name, p in model.named_parameters() if p.is_meta]
    if left_on_meta:
        raise RuntimeError(f"parameters left uninitialised after assembling LLaVA: {left_on_meta[:10]}")
    model.generation_config = language_model.generation_config
    return model.eval()  # like from_pretrained; the shell alone would be in train mode


def compose_llava(
    language_model: str | Path,
    vision_tower: str | Path,
    *,
    projector: str = "mlp2x_gelu",
    vision_feature_layer: int = -2,
    select_strategy: str = "default",
    image_token: str = "<image>",
    torch_dtype=None,
    attn_implementation: Optional[str] = None,
    quantization_config=None,
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """LLaVA-1.5 from parts: a causal LM (Vicuna) + a CLIP vision tower + a fresh 2-layer MLP projector."""
    if projector != "mlp2x_gelu":
        raise FlagError(f"projector {projector!r} is not supported: transformers' Llava has the mlp2x_gelu projector only")
    attn = pick_attn_implementation(attn_implementation)
    tokenizer = AutoTokenizer.from_pretrained(language_model)
    image_processor = AutoImageProcessor.from_pretrained(vision_tower)
    lm = AutoModelForCausalLM.from_pretrained(language_model, attn_implementation=attn, **_dtype_kwargs(torch_dtype),
                                              **quantized_kwargs(quantization_config))  # the tower stays unquantised
    tower = CLIPVisionModel.from_pretrained(vision_tower, attn_implementation=attn, **_dtype_kwargs(torch_dtype))

    prepare_tokenizer(tokenizer, image_token)
    if len(tokenizer) > lm.get_input_embeddings().num_embeddings:
        lm.resize_token_embeddings(len(tokenizer))  # new rows start at the mean embedding
    lm.config.pad_token_id = tokenizer.pad_token_id

    config = llava_config(tower.config, lm.config, image_token_id=tokenizer.convert_tokens_to_ids(image_token),
                          vision_feature_layer=vision_feature_layer, vision_feature_select_strategy=select_strategy,
                          tie_word_embeddings=lm.config.tie_word_embeddings)
    model = _assemble(config, lm, tower)
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=tower.config.patch_size,
        vision_feature_select_strategy=select_strategy,
        image_token=image_token,
        num_additional_image_tokens=1,  # CLIP's CLS token
    )
    return model, processor


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        return load_file(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def projector_key(key: str) -> Optional[str]:
    """Name of a projector tensor inside ``multi_modal_projector`` ('linear_1.weight'), or None."""
    for prefix in ("model." + PROJECTOR_PREFIX, PROJECTOR_PREFIX):
        if key.startswith(prefix):
            return key[len(prefix):]
    for prefix in ("model.mm_projector.", "mm_projector."):
        if key.startswith(prefix):
            index, _, rest = key[len(prefix):].partition(".")
            if index in ORIGINAL_PROJECTOR_LAYERS:
                return f"{ORIGINAL_PROJECTOR_LAYERS[index]}.{rest}"
    return None


def load_projector(model: LlavaForConditionalGeneration, path: str | Path) -> None:
    """Load a stage-1 projector: our safetensors (``multi_modal_projector.*``) or LLaVA's ``mm_projector.bin``."""
    path = Path(path)
    state = _read_state_dict(path)
    renamed = {projector_key(k): v for k, v in state.items()}
    module = model.model.multi_modal_projector
    expected = set(module.state_dict())
    unknown = sorted(k for k in state if projector_key(k) not in expected)
    missing = sorted(expected - set(renamed))
    if unknown or missing:
        raise ModelFilesError(f"{path} does not fit the projector: unknown keys {unknown}, missing keys {missing}")
    if is_deepspeed_zero3_enabled():
        import deepspeed

        with deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=0):
            if torch.distributed.get_rank() == 0:
                _copy_into(module, renamed, path)
    else:
        _copy_into(module, renamed, path)


def _copy_into(module: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path) -> None:
    for name, param in module.state_dict().items():
        if state[name].shape != param.shape:
            raise ModelFilesError(f"{path}: projector tensor {name} has shape {tuple(state[name].shape)}, "
                             f"the model expects {tuple(param.shape)}")
    module.load_state_dict(state, strict=True)


def save_projector(model: LlavaForConditionalGeneration, path: str | Path) -> Path:
    """Write the projector as safetensors with ``multi_modal_projector.*`` keys (unpartitioned models;
    under ZeRO-3 gather the parameters first)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {PROJECTOR_PREFIX + k: v.detach().cpu().contiguous()
             for k, v in model.model.multi_modal_projector.state_dict().items()}
    save_file(state, path)
    return path


def load_llava(
    model_path: str | Path,
    *,
    torch_dtype=None,
    device_map=None,
    attn_implementation: Optional[str] = None,
    quantization_config=None,
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """Load a llava-hf style directory (or hub name): model + processor, checked to agree."""
    kwargs = {**_dtype_kwargs(torch_dtype), **quantized_kwargs(quantization_config)}
    if device_map is not None:
        kwargs["device_map"] = device_map
    model = LlavaForConditionalGeneration.from_pretrained(
        model_path, attn_implementation=pick_attn_implementation(attn_implementation), **kwargs
    )
    processor = AutoProcessor.from_pretrained(model_path)
    token_id = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
    if token_id != model.config.image_token_index:
        raise ModelFilesError(
            f"{model_path}: the processor's {processor.image_token!r} is id {token_id}, "
            f"the model expects image_token_index {model.config.image_token_index}"
        )
    return model, processor
