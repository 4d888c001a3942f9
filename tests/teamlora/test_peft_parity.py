"""Our plain LoRA equals PEFT's LoRA on the same tiny model when A and B are copied across."""
import copy

import torch
from peft import LoraConfig, get_peft_model

from teamlora import TeamLoraConfig, adapted_layers, add_adapters

from .adapter_fixtures import randomize_adapters


def test_lora_matches_peft(tiny_llama, token_batch):
    base_logits = tiny_llama(token_batch).logits
    ours = copy.deepcopy(tiny_llama)
    add_adapters(ours, TeamLoraConfig(method="lora", r=8, alpha=16, dropout=0.0))
    randomize_adapters(ours, seed=3, scale=0.2)

    theirs = get_peft_model(tiny_llama, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                                   target_modules=["gate_proj", "up_proj", "down_proj"]))
    copied = 0
    with torch.no_grad():
        for name, layer in adapted_layers(ours):
            peft_layer = theirs.base_model.model.get_submodule(name)
            peft_layer.lora_A["default"].weight.copy_(layer.lora_A.weight)
            peft_layer.lora_B["default"].weight.copy_(layer.lora_B.weight)
            assert peft_layer.scaling["default"] == layer.scaling
            copied += 1
    assert copied == 6
    out_ours = ours(token_batch).logits
    out_peft = theirs(token_batch).logits
    assert (out_ours - base_logits).abs().max() > 1e-3  # the adapters really act
    torch.testing.assert_close(out_ours, out_peft, rtol=1e-5, atol=1e-6)
