"""Tiny LLaVA builder: saves a checkpoint that loads like a real llava-hf one and runs on synthetic images."""
import pytest
import torch
from PIL import Image
from transformers import AutoProcessor, AutoTokenizer, LlavaForConditionalGeneration
from safetensors.torch import load_file

from llava.data.conversation import VICUNA_SYSTEM
from llava.model.tiny import build_tiny_llava, dataset_texts

PROMPT = VICUNA_SYSTEM + " USER: <image>\nWhat colour is the shape? ASSISTANT:"


def test_reload_forward_and_generate_on_a_synthetic_image(data, tiny_dir):
    model = LlavaForConditionalGeneration.from_pretrained(tiny_dir).eval()
    processor = AutoProcessor.from_pretrained(tiny_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    assert model.config.vision_feature_layer == -1
    assert model.config.image_token_index == tokenizer.convert_tokens_to_ids("<image>")
    assert model.config.image_seq_length == 16

    image = Image.open(data.image_folder / "test_000000.png")
    batch = processor(images=image, text=PROMPT, return_tensors="pt")
    assert batch["pixel_values"].shape == (1, 3, 64, 64)
    assert int((batch["input_ids"] == model.config.image_token_index).sum()) == 16
    with torch.no_grad():
        logits = model(**batch).logits  # (1, seq, vocab)
    assert logits.shape == (1, batch["input_ids"].shape[1], len(tokenizer))
    assert torch.isfinite(logits).all()
    generated = model.generate(**batch, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] == batch["input_ids"].shape[1] + 4 or generated[0, -1] == tokenizer.eos_token_id


def test_wrong_number_of_image_tokens_raises(tiny_dir):
    model = LlavaForConditionalGeneration.from_pretrained(tiny_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    image_id = model.config.image_token_index
    ids = tokenizer("USER: ", return_tensors="pt").input_ids
    too_few = torch.cat([ids, torch.full((1, 15), image_id)], dim=1)  # 15 of the 16 needed
    with pytest.raises(ValueError, match="(?i)image"):
        model(input_ids=too_few, pixel_values=torch.zeros(1, 3, 64, 64))


def test_same_seed_same_weights_and_template_is_compact(data, tiny_dir, tmp_path):
    again = build_tiny_llava(tmp_path / "again", dataset_texts(data.root), seed=0, text_hidden=64,
                             vision_hidden=64, vocab_size=400)
    first, second = load_file(tiny_dir / "model.safetensors"), load_file(again / "model.safetensors")
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    assert len(tokenizer.tokenize(" ASSISTANT:")) <= 2
    assert len(tokenizer(VICUNA_SYSTEM).input_ids) < 45  # ~30 words; unmerged bytes would be ~170
