"""bench.gpu.model: the 7B config has llava-hf/llava-1.5-7b-hf's shapes and parameter count, and the adapters
the grid swaps in cover its 96 FFN projections in the DeepSpeed bf16 dtype."""
import torch

from bench.gpu import cli, model
from bench.gpu.adapters import Adapter


def test_7b_config_shapes_and_adapters():
    config = model.llava7b_config()
    text, vision = config.text_config, config.vision_config
    assert (text.hidden_size, text.intermediate_size, text.num_hidden_layers, text.num_attention_heads,
            text.vocab_size) == (4096, 11008, 32, 32, 32064)
    assert (vision.hidden_size, vision.num_hidden_layers, vision.num_attention_heads, vision.intermediate_size,
            vision.image_size, vision.patch_size) == (1024, 24, 16, 4096, 336, 14)
    assert cli.num_image_tokens(config) == 576

    # built on the meta device (no memory): exactly llava-hf/llava-1.5-7b-hf's parameter count, and the
    # adapters bench.gpu swaps in cover the 96 FFN projections of the 32 layers
    from transformers import LlavaForConditionalGeneration

    with torch.device("meta"):
        base = LlavaForConditionalGeneration._from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa")
    assert sum(p.numel() for p in base.parameters()) == 7_063_427_072
    settings = cli.settings_for(cli.parse_args([]), torch.device("cpu"))
    adapter = Adapter(base, "teamlora", settings)
    assert len(adapter.layers) == 96
    assert adapter.layers["model.language_model.layers.0.mlp.up_proj"].lora_A.weight.shape == (128, 4096)
    # as DeepSpeed's bf16 engine leaves them (teamlora alone would make them float32)
    assert {p.dtype for p in adapter.own_params} == {settings.dtype} == {torch.bfloat16}
