"""LLaVA config facts: image tokens per image, and the config LLaVA-1.5's parts make."""
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

from llava.model.config import llava_config, num_image_tokens
from llava.model.tiny import tiny_llava_config


def test_num_image_tokens_tiny_and_llava15():
    tiny = tiny_llava_config(vocab_size=64, image_token_id=4, bos_token_id=1, eos_token_id=2, pad_token_id=3)
    assert num_image_tokens(tiny) == 16  # 64 px / 16 px
    assert num_image_tokens(LlavaConfig()) == 576  # LLaVA-1.5: 336 px / 14 px, CLS dropped
    full = LlavaConfig(vision_feature_select_strategy="full")
    assert num_image_tokens(full) == 577


def test_llava_config_records_the_image_count_and_llava15_projector():
    vision = CLIPVisionConfig(image_size=48, patch_size=8, hidden_size=32, num_attention_heads=1)
    text = LlamaConfig(vocab_size=100, hidden_size=64, num_attention_heads=1, num_hidden_layers=1)
    config = llava_config(vision, text, image_token_id=99, vision_feature_layer=-2,
                          vision_feature_select_strategy="full", tie_word_embeddings=False)
    assert config.image_seq_length == 37  # (48 / 8)^2 patches + CLS under "full"
    assert (config.image_token_index, config.vision_feature_layer, config.projector_hidden_act) == (99, -2, "gelu")
    assert config.vision_config.image_size == 48 and config.text_config.vocab_size == 100
    assert config.tie_word_embeddings is False
