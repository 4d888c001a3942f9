"""Shared fixtures: tiny random models built from configs (no downloads), one CPU thread."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch

# Two threads on a contended 2-core machine can be 100x slower for tiny models.
torch.set_num_threads(1)


def make_tiny_llama(seed: int = 0, vocab_size: int = 128, hidden: int = 64, layers: int = 2):
    """A 2-layer Llama causal LM, hidden 64, random weights, fp32, eval mode."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 2 + 16,  # 144: distinct from hidden so shapes catch transposes
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=False,
        # HF's default 0.02 gives logits too small to fit anything within the final RMSNorm's scale;
        # 0.1 lets 20 adapter steps make real progress on a tiny model
        initializer_range=0.1,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).eval()
    return model


@pytest.fixture
def tiny_llama():
    return make_tiny_llama()


@pytest.fixture
def tiny_llama_factory():
    return make_tiny_llama


@pytest.fixture
def token_batch():
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 128, (2, 12), generator=g)
