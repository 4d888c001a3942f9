"""Plain LoRA merges into W0 and unmerges exactly; routed methods refuse with the reason."""
import pytest
import torch

from teamlora import MergeError, TeamLoraConfig, add_adapters, merge_adapters, merge_and_unload, unmerge_adapters
from teamlora.layer import TeamLoraLinear

from .adapter_fixtures import randomize_adapters


def test_lora_merge_unmerge(tiny_llama, token_batch):
    original = tiny_llama.model.layers[0].mlp.up_proj.weight.detach().clone()
    add_adapters(tiny_llama, TeamLoraConfig(method="lora", r=8, dropout=0.0))
    randomize_adapters(tiny_llama)
    adapted = tiny_llama(token_batch).logits
    merge_adapters(tiny_llama)
    merged_weight = tiny_llama.model.layers[0].mlp.up_proj.base.weight.detach().clone()
    assert not torch.equal(merged_weight, original)
    torch.testing.assert_close(tiny_llama(token_batch).logits, adapted, rtol=1e-4, atol=1e-5)
    unmerge_adapters(tiny_llama)
    assert torch.equal(tiny_llama.model.layers[0].mlp.up_proj.base.weight, original)
    assert torch.equal(tiny_llama(token_batch).logits, adapted)


def test_merge_and_unload_gives_plain_linears(tiny_llama, token_batch):
    add_adapters(tiny_llama, TeamLoraConfig(method="lora", r=8, dropout=0.0))
    randomize_adapters(tiny_llama)
    adapted = tiny_llama(token_batch).logits
    merge_and_unload(tiny_llama)
    assert not any(isinstance(m, TeamLoraLinear) for m in tiny_llama.modules())
    torch.testing.assert_close(tiny_llama(token_batch).logits, adapted, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", ["moelora", "hydralora", "teamlora"])
def test_routed_methods_refuse_to_merge(method, tiny_llama):
    add_adapters(tiny_llama, TeamLoraConfig(method=method, r=4))
    with pytest.raises(MergeError, match="depend on each token"):
        merge_adapters(tiny_llama)
    with pytest.raises(MergeError, match="depend on each token"):
        tiny_llama.model.layers[0].mlp.up_proj.merge()


def test_layer_merge_state_and_unload(tiny_llama, token_batch):
    add_adapters(tiny_llama, TeamLoraConfig(method="lora", r=8, dropout=0.0))
    randomize_adapters(tiny_llama)
    layer = tiny_llama.model.layers[0].mlp.up_proj
    original = layer.base.weight.detach().clone()
    expected = original + layer.delta_weight()
    assert not layer.merged
    layer.merge()
    assert layer.merged
    merged_weight = layer.base.weight.detach().clone()
    layer.merge()  # a second merge adds nothing
    assert torch.equal(layer.base.weight, merged_weight)
    torch.testing.assert_close(merged_weight, expected)
    layer.unmerge()
    assert not layer.merged and torch.equal(layer.base.weight, original)
    layer.merge()
    base = layer.unload()  # the merge becomes final: the base keeps the merged weight
    assert base is layer.base and torch.equal(base.weight, merged_weight)
    with pytest.raises(MergeError, match="made final by unload"):
        layer.unmerge()
    assert torch.equal(base.weight, merged_weight)
