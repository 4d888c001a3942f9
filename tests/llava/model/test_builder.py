"""Real-checkpoint path on tiny local checkpoints: compose Llama + CLIP, projector files, llava-hf reload."""
import pytest
import torch
from PIL import Image
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    CLIPVisionModel,
    LlamaConfig,
    LlamaForCausalLM,
)

from llava.model.builder import compose_llava, load_llava, load_projector, pick_attn_implementation, save_projector
from llava.model.tiny import train_tokenizer

TEXTS = ["USER: What colour is the circle? ASSISTANT: red", "a blue square on the left", "A chat between"] * 20
PROMPT = "USER: <image>\nWhat colour? ASSISTANT:"


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """A Llama checkpoint whose tokenizer lacks <image> and a pad token, and a CLIP vision tower."""
    root = tmp_path_factory.mktemp("parts")
    tokenizer = train_tokenizer(TEXTS, vocab_size=300, image_token="<unused>")
    tokenizer.pad_token = None
    torch.manual_seed(0)
    lm = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=144, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128))
    lm.save_pretrained(root / "lm")
    tokenizer.save_pretrained(root / "lm")
    tower = CLIPVisionModel(CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
        image_size=32, patch_size=8))
    tower.save_pretrained(root / "tower")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(root / "tower")
    return root, lm.eval(), tower.eval(), len(tokenizer)


@pytest.fixture(scope="module")
def composed(parts):
    root = parts[0]
    model, processor = compose_llava(root / "lm", root / "tower")
    return model.eval(), processor


def _batch(processor):
    image = Image.new("RGB", (40, 40), (200, 30, 30))
    return processor(images=image, text=PROMPT, return_tensors="pt")


def test_compose_adds_image_and_pad_tokens_and_keeps_the_loaded_weights(parts, composed):
    _, lm, tower, vocab = parts
    model, processor = composed
    assert model.config.image_token_index == vocab  # appended after the original vocabulary
    assert model.get_input_embeddings().num_embeddings == vocab + 1
    assert processor.tokenizer.pad_token == "<unk>"
    assert model.config.vision_feature_layer == -2 and model.config.image_seq_length == 16
    assert torch.equal(model.model.language_model.layers[1].mlp.up_proj.weight, lm.model.layers[1].mlp.up_proj.weight)
    assert torch.equal(model.model.vision_tower.state_dict()["encoder.layers.2.mlp.fc1.weight"],
                       tower.state_dict()["encoder.layers.2.mlp.fc1.weight"])
    projector = model.model.multi_modal_projector
    assert projector.linear_1.weight.shape == (64, 32) and projector.linear_1.weight.std() > 0
    # Text-only input: the composed model is exactly the language model on the old vocabulary.
    ids = processor.tokenizer("a blue square", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids).logits[..., :vocab], lm(input_ids=ids).logits, atol=1e-6)


def test_forward_save_and_load_llava_reproduce_logits(composed, tmp_path):
    model, processor = composed
    batch = _batch(processor)
    assert int((batch["input_ids"] == model.config.image_token_index).sum()) == 16  # (32 / 8)^2
    with torch.no_grad():
        logits = model(**batch).logits
    assert torch.isfinite(logits).all()
    model.save_pretrained(tmp_path / "llava")
    processor.save_pretrained(tmp_path / "llava")
    reloaded, reloaded_processor = load_llava(tmp_path / "llava")
    batch2 = _batch(reloaded_processor)
    assert torch.equal(batch2["input_ids"], batch["input_ids"])
    with torch.no_grad():
        assert torch.equal(reloaded.eval()(**batch2).logits, logits)


def test_projector_files_ours_and_original_naming(parts, composed, tmp_path):
    root = parts[0]
    source, processor = composed
    target, _ = compose_llava(root / "lm", root / "tower")  # a different random projector
    assert not torch.equal(target.model.multi_modal_projector.linear_2.weight,
                           source.model.multi_modal_projector.linear_2.weight)
    load_projector(target, save_projector(source, tmp_path / "mm_projector.safetensors"))
    batch = _batch(processor)
    # The appended <image> row of lm_head is sampled per compose, so compare the other columns.
    with torch.no_grad():
        assert torch.equal(target.eval()(**batch).logits[..., :-1], source(**batch).logits[..., :-1])

    original = {
        "model.mm_projector.0.weight": torch.ones(64, 32), "model.mm_projector.0.bias": torch.zeros(64),
        "model.mm_projector.2.weight": torch.full((64, 64), 2.0), "model.mm_projector.2.bias": torch.ones(64),
    }
    torch.save(original, tmp_path / "mm_projector.bin")
    load_projector(target, tmp_path / "mm_projector.bin")
    assert torch.equal(target.model.multi_modal_projector.linear_2.weight, torch.full((64, 64), 2.0))

    torch.save({**original, "model.mm_projector.4.weight": torch.ones(1)}, tmp_path / "bad.bin")
    with pytest.raises(ValueError, match=r"bad\.bin.*mm_projector\.4\.weight"):
        load_projector(target, tmp_path / "bad.bin")
    torch.save({**original, "model.mm_projector.0.bias": torch.zeros(65)}, tmp_path / "shape.bin")
    with pytest.raises(ValueError, match=r"shape\.bin.*linear_1\.bias"):
        load_projector(target, tmp_path / "shape.bin")


def test_attention_implementation_falls_back_to_sdpa_without_flash_attn():
    expected = "flash_attention_2" if torch.cuda.is_available() and _has_flash_attn() else "sdpa"
    assert pick_attn_implementation(None) == expected
    assert pick_attn_implementation("flash_attention_2") == expected
    assert pick_attn_implementation("eager") == "eager"


def _has_flash_attn():
    import importlib.util

    return importlib.util.find_spec("flash_attn") is not None


def test_quantization_skip_list_names_the_tower_projector_and_head():
    """transformers 5 matches llm_int8_skip_modules from the start of a full module name or as its suffix;
    the tower and projector must match there (else they are quantised too), the language model must not."""
    from transformers import LlavaForConditionalGeneration

    from llava.model.tiny import tiny_llava_config
    from llava.train.build import QUANT_SKIP_MODULES

    config = tiny_llava_config(vocab_size=64, image_token_id=3, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    with torch.device("meta"):
        model = LlavaForConditionalGeneration._from_config(config)
    linears = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]

    def skipped(name):
        return any(name.startswith(key + ".") or name == key or name.endswith("." + key) for key in QUANT_SKIP_MODULES)

    kept = [n for n in linears if skipped(n)]
    quantised = [n for n in linears if not skipped(n)]
    assert all("language_model" in n for n in quantised) and quantised
    assert any("vision_tower" in n for n in kept) and any("multi_modal_projector" in n for n in kept)
    assert "lm_head" in kept
