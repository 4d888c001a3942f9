"""The checkpoint drives eval: the template and image aspect ratio training recorded are model_vqa's and the
chat's defaults; a flag that disagrees wins with a warning; a checkpoint without a record keeps vicuna_v1/pad."""
import json
import logging
import shutil

import pytest
import torch
from PIL import Image
from transformers import AutoProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig

import llava.eval.chat as chat_entry
import llava.eval.model_vqa as model_vqa
from llava.data.dataset import image_pixels
from llava.model.checkpoint import BaseModelSpec, write_run_info
from llava.model.input_format import (
    check_image_tokens,
    effective_input_format,
    input_format_for,
    input_format_record,
)

from ..eval.eval_fixtures import make_eval_setup

torch.set_num_threads(1)


def _run_dir(tmp_path, **record):
    """A checkpoint folder whose llava_run.json holds ``record`` (no model: the record alone is read)."""
    folder = tmp_path / "run"
    folder.mkdir(exist_ok=True)
    write_run_info(folder, BaseModelSpec("base"), "adapters", record)
    return folder


def test_training_records_the_input_format():
    config = LlavaConfig(vision_config=CLIPVisionConfig(image_size=336, patch_size=14), text_config=LlamaConfig())
    record = input_format_record(conv_template="v1", image_aspect_ratio="pad", model_config=config,
                                 model_max_length=2048)
    # (336 / 14)^2 = 576 patches; the alias v1 is stored under its template's name
    assert record == {"conv_template": "vicuna_v1", "image_aspect_ratio": "pad", "num_image_tokens": 576,
                      "model_max_length": 2048}


def test_the_record_is_the_default_and_agreeing_flags_are_silent(tmp_path, caplog):
    run = _run_dir(tmp_path, conv_template="plain", image_aspect_ratio="square", num_image_tokens=16)
    caplog.set_level(logging.WARNING)
    fmt = effective_input_format(run)
    assert (fmt.conv_template, fmt.image_aspect_ratio, fmt.num_image_tokens) == ("plain", "square", 16)
    assert effective_input_format(run, "plain", "none").image_aspect_ratio == "none"  # none = square: no warning
    assert caplog.text == ""


def test_a_disagreeing_flag_wins_with_a_warning(tmp_path, caplog):
    run = _run_dir(tmp_path, conv_template="vicuna_v1", image_aspect_ratio="square")
    fmt = effective_input_format(run, "plain", "pad")
    assert (fmt.conv_template, fmt.image_aspect_ratio) == ("plain", "pad")
    assert "--conv-mode plain overrides the checkpoint's vicuna_v1" in caplog.text
    assert "--image-aspect-ratio pad overrides the checkpoint's square" in caplog.text
    assert str(run / "llava_run.json") in caplog.text


def test_checkpoints_without_a_record_keep_the_former_defaults_with_a_warning(tmp_path, caplog):
    old = _run_dir(tmp_path, conv_template="plain")  # written before image_aspect_ratio was recorded
    fmt = effective_input_format(old)
    assert (fmt.conv_template, fmt.image_aspect_ratio) == ("plain", "pad")
    assert "records no image_aspect_ratio" in caplog.text and "records no conv_mode" not in caplog.text
    caplog.clear()
    hf = tmp_path / "llava-hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "llava", "text_config": {}, "vision_config": {}}))
    fmt = effective_input_format(hf)
    assert (fmt.conv_template, fmt.image_aspect_ratio) == ("vicuna_v1", "pad")
    assert caplog.text.count("records no") == 2


@pytest.mark.parametrize("aspect, expected", [("pad", "pad"), (None, "square")])
def test_original_and_converted_checkpoints_follow_their_config(tmp_path, caplog, aspect, expected):
    original = tmp_path / "llava-v1.5"
    original.mkdir()
    config = {"architectures": ["LlavaLlamaForCausalLM"], "model_type": "llava", "mm_vision_tower": "clip"}
    (original / "config.json").write_text(json.dumps({**config, **({"image_aspect_ratio": aspect} if aspect else {})}))
    converted = tmp_path / "converted"
    converted.mkdir()
    (converted / "llava_original_fields.json").write_text(json.dumps({"image_aspect_ratio": aspect}))
    for folder in (original, converted):
        fmt = effective_input_format(folder)
        assert (fmt.conv_template, fmt.image_aspect_ratio) == ("vicuna_v1", expected)
    assert "records no" not in caplog.text


def test_recorded_image_token_count_must_match_the_model(tmp_path):
    config = LlavaConfig(vision_config=CLIPVisionConfig(image_size=32, patch_size=8), text_config=LlamaConfig())
    check_image_tokens(effective_input_format(_run_dir(tmp_path, num_image_tokens=16)), config)
    with pytest.raises(ValueError, match=r"records 576 image tokens per image, but the loaded model makes 16"):
        check_image_tokens(effective_input_format(_run_dir(tmp_path, num_image_tokens=576)), config)
    with pytest.raises(ValueError, match=r"records 576 image tokens per image, but the loaded model makes 16"):
        input_format_for(_run_dir(tmp_path, num_image_tokens=576), config)  # what model_vqa, the chat, usage call
    assert input_format_for(_run_dir(tmp_path, num_image_tokens=16), config, "plain").conv_template == "plain"


@pytest.fixture(scope="module")
def recorded_model(tmp_path_factory):
    """The tiny eval model (32-px images, 4 image tokens) as a full-mode run trained with plain/square."""
    root = tmp_path_factory.mktemp("recorded")
    setup = make_eval_setup(root)
    run = root / "run"
    shutil.copytree(setup["model_dir"], run)
    write_run_info(run, BaseModelSpec("base"), "full",
                   {"conv_template": "plain", "image_aspect_ratio": "square", "num_image_tokens": 4})
    return setup, run


def _capture(monkeypatch, module, name):
    seen = {}

    def fake(*args, **kwargs):
        seen.update(kwargs)
        return []

    monkeypatch.setattr(module, name, fake)
    return seen


def test_model_vqa_follows_the_record_and_a_flag_overrides_it(recorded_model, tmp_path, monkeypatch, caplog):
    setup, run = recorded_model
    seen = _capture(monkeypatch, model_vqa, "generate_batches")
    argv = ["--model-path", str(run), "--question-file", str(setup["questions"]), "--image-folder", setup["images"],
            "--answers-file", str(tmp_path / "a.jsonl")]
    model_vqa.main(argv)
    assert (seen["template"].name, seen["image_aspect_ratio"]) == ("plain", "square")
    assert "overrides" not in caplog.text
    model_vqa.main(argv + ["--conv-mode", "vicuna_v1", "--image-aspect-ratio", "pad"])
    assert (seen["template"].name, seen["image_aspect_ratio"]) == ("vicuna_v1", "pad")
    assert "--conv-mode vicuna_v1 overrides the checkpoint's plain" in caplog.text


def test_chat_follows_the_record(recorded_model, tmp_path, monkeypatch):
    setup, run = recorded_model
    seen = _capture(monkeypatch, chat_entry, "chat")
    image = tmp_path / "wide.png"
    Image.new("RGB", (40, 24), (200, 30, 30)).save(image)
    assert chat_entry.main(["--model-path", str(run), "--image-file", str(image), "--device", "cpu"]) == 0
    assert seen["template"].name == "plain"
    processor = AutoProcessor.from_pretrained(run)
    square = image_pixels(Image.open(image).convert("RGB"), processor.image_processor, "square")
    padded = image_pixels(Image.open(image).convert("RGB"), processor.image_processor, "pad")
    assert torch.equal(seen["pixel_values"][0], square) and not torch.equal(square, padded)
