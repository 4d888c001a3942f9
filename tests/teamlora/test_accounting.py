"""Parameter shares on a LLaMA-7B config built on the meta device match the TeamLoRA paper's table."""
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from teamlora import TeamLoraConfig, add_adapters, count_parameters

LLAMA_7B = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                num_attention_heads=32, num_key_value_heads=32)


@pytest.mark.parametrize(
    "method,r,paper_percent",
    [("lora", 32, 0.67), ("lora", 128, 2.68), ("hydralora", 32, 1.84), ("teamlora", 32, 2.71), ("teamlora", 16, 1.35)],
)
def test_llama7b_ffn_shares_match_the_paper(method, r, paper_percent):
    with torch.device("meta"):
        model = LlamaForCausalLM(LlamaConfig(**LLAMA_7B))
    base_total = count_parameters(model).total
    assert 6.73e9 < base_total < 6.75e9
    add_adapters(model, TeamLoraConfig(method=method, r=r, alpha=2 * r))
    count = count_parameters(model)
    assert abs(100 * count.share - paper_percent) < 0.05, f"{method} r={r}: {100 * count.share:.3f}%"


def test_teamlora_equals_moelora_plus_interaction():
    with torch.device("meta"):
        a = LlamaForCausalLM(LlamaConfig(**{**LLAMA_7B, "num_hidden_layers": 2}))
        b = LlamaForCausalLM(LlamaConfig(**{**LLAMA_7B, "num_hidden_layers": 2}))
    add_adapters(a, TeamLoraConfig(method="teamlora", r=32))
    add_adapters(b, TeamLoraConfig(method="moelora", r=32))
    # same A, B and router sizes; TeamLoRA adds one 4x4 interaction matrix per adapted layer
    assert count_parameters(a).trainable - count_parameters(b).trainable == 2 * 3 * 16
