"""Facts of a LLaVA config (transformers' ``LlavaConfig``) that every builder, loader and reader of
images needs: how many ``<image>`` tokens an image becomes, and the config LLaVA-1.5's parts make."""
from __future__ import annotations

from transformers import LlavaConfig


def num_image_tokens(config: LlavaConfig) -> int:
    """<image> tokens per image: (image_size / patch_size)^2 patches, plus CLS under 'full'.

    64 px / 16 px -> 16 (tiny); 336 px / 14 px -> 576 (LLaVA-1.5).
    """
    vision = config.vision_config
    patches = (vision.image_size // vision.patch_size) ** 2
    return patches + (1 if config.vision_feature_select_strategy == "full" else 0)


def llava_config(vision_config, text_config, *, image_token_id: int, vision_feature_layer: int,
                 vision_feature_select_strategy: str, **extra) -> LlavaConfig:
    """LlavaConfig of a CLIP tower + language model joined by LLaVA-1.5's 2-layer GELU projector, with
    ``image_seq_length`` set to the tower's count (the processor and the model must agree on it)."""
    config = LlavaConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=image_token_id,
        vision_feature_layer=vision_feature_layer,
        vision_feature_select_strategy=vision_feature_select_strategy,
        projector_hidden_act="gelu",
        **extra,
    )
    config.image_seq_length = num_image_tokens(config)
    return config
