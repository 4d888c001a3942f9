"""Tiny LLaVA builder: saves a checkpoint that loads like a real llava-hf one and runs on synthetic images."""
import pytest
import torch
from PIL import Image
from transformers import AutoProcessor, AutoTokenizer, LlavaConfig, LlavaForConditionalGeneration
from safetensors.torch import load_file

from llava.data.synthetic import generate_dataset
from llava.model.tiny import VICUNA_SYSTEM, build_tiny_llava, dataset_texts, main, num_image_tokens
from llava.model.tokenizer import train_tokenizer

PROMPT = VICUNA_SYSTEM + " USER: <image>\nWhat colour is the shape? ASSISTANT:"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("syn"), num_train=30, num_test=2, seed=0)


@pytest.fixture(scope="module")
def tiny_dir(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    return build_tiny_llava(out, dataset_texts(data.root), seed=0, text_hidden=64, vision_hidden=64, vocab_size=400)


def test_num_image_tokens_tiny_and_llava15(tiny_dir):
    assert num_image_tokens(LlavaConfig.from_pretrained(tiny_dir)) == 16  # 64 px / 16 px
    assert num_image_tokens(LlavaConfig()) == 576  # LLaVA-1.5: 336 px / 14 px, CLS dropped
    full = LlavaConfig(vision_feature_select_strategy="full")
    assert num_image_tokens(full) == 577


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


def test_cli_skips_an_existing_model(data, tiny_dir, capsys):
    stamp = (tiny_dir / "model.safetensors").stat().st_mtime_ns
    main(["--data", str(data.root), "--out", str(tiny_dir)])
    assert "already holds a model" in capsys.readouterr().out
    assert (tiny_dir / "model.safetensors").stat().st_mtime_ns == stamp


def test_tokenizer_round_trip_bos_and_unsplittable_image_token(tmp_path):
    tokenizer = train_tokenizer(["USER: <image>\nWhat colour? ASSISTANT: red", "a blue circle"] * 30, vocab_size=300)
    assert [tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id] == [0, 1, 2, 3]
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    assert image_id == 4
    text = "USER: x<image><image>y\nWhat colour? ASSISTANT: red</s>"
    ids = tokenizer(text).input_ids
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1  # bos added, once
    assert ids[-1] == tokenizer.eos_token_id  # only because the text spells </s>
    assert ids.count(image_id) == 2
    assert tokenizer(text, add_special_tokens=False).input_ids == ids[1:]
    assert tokenizer.decode(ids[1:]) == text
    assert tokenizer("a blue circle").input_ids[-1] != tokenizer.eos_token_id  # no eos appended

    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded(text).input_ids == ids
    padded = reloaded(["a", "a blue circle"], padding=True).input_ids
    assert padded[0][-1] == reloaded.pad_token_id and padded[0][0] == reloaded.bos_token_id  # right padding


def test_dataset_texts_names_a_malformed_record(tmp_path):
    (tmp_path / "pretrain.json").write_text('[{"id": "ok", "conversations": [{"from": "human", "value": "hi"}]}]')
    (tmp_path / "train.json").write_text('[{"id": "broken-7", "conversations": [{"from": "human"}]}]')
    with pytest.raises(ValueError, match=r"train\.json: record 'broken-7'"):
        list(dataset_texts(tmp_path))
    (tmp_path / "train.json").unlink()
    with pytest.raises(FileNotFoundError, match="llava.data.synthetic"):
        list(dataset_texts(tmp_path))
