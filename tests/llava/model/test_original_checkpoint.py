"""Original-layout LLaVA-1.5 checkpoints where a llava-hf model is expected: converted on load and cached
(training's --model_name_or_path, model_vqa's --model-path), or one error naming the convert command."""
import fnmatch
import json
import logging
import shutil

import pytest
import torch

import llava.model.original as original
from llava.data.synthetic import generate_dataset
from llava.eval.model_vqa import main as model_vqa_main
from llava.model.builder import load_llava
from llava.model.checkpoint import BaseModelSpec, load_pretrained_model, read_run_info
from llava.model.convert import convert_checkpoint
from llava.model.original import (
    MARKER_NAME,
    OriginalCheckpointError,
    is_original_config,
    resolve_llava_checkpoint,
)
from llava.train.train import main as train_main

from .test_convert import _original_checkpoint

torch.set_num_threads(1)
# LLaVA-1.5's published config.json says model_type "llava": the name transformers' Llava uses too.
REAL_CONFIG = {"model_type": "llava", "max_position_embeddings": 1024, "mm_use_im_patch_token": False}
HUB_NAME = "liuhaotian/llava-v1.5-7b"


@pytest.fixture
def no_hub(monkeypatch):
    """Any hub call fails like it does without network access."""
    import huggingface_hub

    def offline(*args, **kwargs):
        raise OSError("no connection to the hub")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    monkeypatch.delenv(original.CACHE_ENV, raising=False)


def _logits(model, vocab):
    """Logits over the source vocabulary (the added <image> row is drawn at random by each conversion)."""
    ids = torch.arange(1, 9)[None] % vocab
    with torch.no_grad():
        return model(input_ids=ids).logits[..., :vocab]


def test_original_folder_is_converted_on_load_cached_beside_it_and_reused(tmp_path, no_hub, monkeypatch, caplog):
    src, state, vocab = _original_checkpoint(tmp_path, config_overrides=REAL_CONFIG)
    assert is_original_config(json.loads((src / "config.json").read_text()))
    caplog.set_level(logging.INFO)
    model, processor = BaseModelSpec(str(src)).build()
    out = tmp_path / "src-hf"
    assert (out / MARKER_NAME).is_file() and f"converting it to the llava-hf layout in {out}" in caplog.text
    expected, _ = load_llava(convert_checkpoint(src, tmp_path / "explicit"))
    assert torch.equal(_logits(model, vocab), _logits(expected.eval(), vocab))
    assert torch.equal(model.model.multi_modal_projector.linear_1.weight, state["model.mm_projector.0.weight"])
    assert processor.tokenizer.convert_tokens_to_ids("<image>") == model.config.image_token_index == vocab

    def must_not_convert(*args, **kwargs):
        raise AssertionError("converted again although the source is unchanged")

    monkeypatch.setattr(original, "convert_checkpoint", must_not_convert)
    caplog.clear()
    assert resolve_llava_checkpoint(src) == str(out)
    assert "using its converted llava-hf copy" in caplog.text
    # --vision_tower naming the tower the config names (finetune_task_lora.sh's habit) is the same copy
    assert resolve_llava_checkpoint(src, vision_tower=str(tmp_path / "clip")) == str(out)
    # eval's loader takes the same folder (no llava_run.json: not a run of ours)
    again, _ = load_pretrained_model(src)
    assert torch.equal(_logits(again, vocab), _logits(model, vocab))

    monkeypatch.setattr(original, "convert_checkpoint", convert_checkpoint)
    config = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(json.dumps({**config, "rms_norm_eps": 1e-5}))  # the source changed
    caplog.clear()
    resolve_llava_checkpoint(src)
    assert "changed since" in caplog.text and (out / MARKER_NAME).is_file()


def test_llava_hf_folders_pass_through_and_unreachable_names_fail_once(tmp_path, no_hub, monkeypatch):
    src, _, _ = _original_checkpoint(tmp_path)
    hf = convert_checkpoint(src, tmp_path / "hf")
    assert resolve_llava_checkpoint(hf) == str(hf)
    assert not (tmp_path / "hf-hf").exists()
    # asked once here, not again by transformers after the same network retries
    with pytest.raises(OSError, match="llava-hf/llava-1.5-7b-hf is not a folder here, and its config.json cannot"):
        resolve_llava_checkpoint("llava-hf/llava-1.5-7b-hf")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)  # offline mode: transformers reports it
    assert resolve_llava_checkpoint("llava-hf/llava-1.5-7b-hf") == "llava-hf/llava-1.5-7b-hf"


def test_hub_name_is_downloaded_and_converted_into_the_chosen_folder(tmp_path, monkeypatch):
    import huggingface_hub

    src, _, vocab = _original_checkpoint(tmp_path, config_overrides=REAL_CONFIG)
    calls = []

    def snapshot_download(repo, allow_patterns):  # the hub's snapshot folder: the files downloaded so far
        calls.append(allow_patterns)
        snapshot = tmp_path / "snapshot"
        snapshot.mkdir(exist_ok=True)
        for file in src.iterdir():
            if any(fnmatch.fnmatch(file.name, pattern) for pattern in allow_patterns):
                shutil.copy(file, snapshot / file.name)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda repo, name, **kw: str(src / name))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setenv(original.CACHE_ENV, str(tmp_path / "converted"))
    model, _ = load_pretrained_model(HUB_NAME)
    out = tmp_path / "converted" / "liuhaotian--llava-v1.5-7b-hf"
    assert json.loads((out / MARKER_NAME).read_text())["source"] == HUB_NAME
    assert model.get_input_embeddings().num_embeddings == vocab + 1
    # safetensors first; the .bin shards only because this checkpoint has no safetensors
    meta = ["*.json", "*.model", "*.txt"]
    assert calls == [meta + ["*.safetensors"], meta + ["pytorch_model*.bin"]]


def test_hub_original_without_hub_access_names_the_convert_command(tmp_path, no_hub, monkeypatch):
    monkeypatch.setenv(original.CACHE_ENV, str(tmp_path / "c"))
    command = "python -m llava.model.convert --src liuhaotian/llava-v1.5-7b --out liuhaotian--llava-v1.5-7b-hf"
    with pytest.raises(OriginalCheckpointError) as err:
        BaseModelSpec(HUB_NAME, vision_tower="openai/clip-vit-large-patch14-336").build()
    assert command + " --vision-tower openai/clip-vit-large-patch14-336" in str(err.value)
    # config cached (so it is known to be original) but the weights cannot be downloaded
    src, _, _ = _original_checkpoint(tmp_path, config_overrides=REAL_CONFIG)
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda repo, name, **kw: str(src / name))
    with pytest.raises(OriginalCheckpointError, match="cannot be downloaded here") as err:
        resolve_llava_checkpoint("someone/my-llava-finetune")
    assert "python -m llava.model.convert --src someone/my-llava-finetune --out someone--my-llava-finetune-hf" \
        in str(err.value)


def test_missing_vision_tower_names_the_command_with_a_local_tower(tmp_path, no_hub, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)  # transformers fails at once, no retries
    src, _, _ = _original_checkpoint(tmp_path, with_tower=False,
                                     config_overrides={"mm_vision_tower": "openai/clip-vit-large-patch14-336"})
    with pytest.raises(OriginalCheckpointError) as err:
        resolve_llava_checkpoint(src)
    assert f"python -m llava.model.convert --src {src} --out {tmp_path / 'src-hf'} " \
           "--vision-tower PATH/TO/clip-vit-large-patch14-336" in str(err.value)
    assert not (tmp_path / "src-hf").exists() and not list(tmp_path.glob(".src-hf.partial-*"))


@pytest.mark.parametrize("kind, message", [
    ("mistral", "of class LlavaMistralForCausalLM"),
    ("lora", "merge_lora_weights.py"),
    ("stage1", "--pretrain_mm_mlp_adapter"),
])
def test_originals_that_do_not_convert_say_what_to_do(tmp_path, no_hub, kind, message):
    src, _, _ = _original_checkpoint(tmp_path)
    if kind == "mistral":
        config = json.loads((src / "config.json").read_text())
        (src / "config.json").write_text(json.dumps({**config, "architectures": ["LlavaMistralForCausalLM"]}))
    elif kind == "lora":
        torch.save({}, src / "non_lora_trainables.bin")
    else:
        (src / "pytorch_model.bin").rename(src / "mm_projector.bin")
    with pytest.raises(OriginalCheckpointError, match=message):
        resolve_llava_checkpoint(src)


@pytest.mark.slow
def test_finetune_task_lora_habit_trains_on_an_original_checkpoint_and_evaluates(tmp_path, no_hub, caplog):
    """LLaVA's finetune_task_lora.sh: a full LLaVA as --model_name_or_path, with --vision_tower."""
    src, state, _ = _original_checkpoint(tmp_path, config_overrides=REAL_CONFIG)
    data = generate_dataset(tmp_path / "data", num_train=8, num_test=2, image_size=32)
    run = tmp_path / "run"
    trainer = train_main([
        "--model_name_or_path", str(src), "--vision_tower", str(tmp_path / "clip"), "--peft", "lora",
        "--data_path", str(data.train_json), "--image_folder", str(data.image_folder), "--output_dir", str(run),
        "--image_aspect_ratio", "square", "--per_device_train_batch_size", "2", "--max_steps", "1",
        "--report_to", "none", "--use_cpu", "--model_max_length", "1024", "--remove_unused_columns", "False",
        "--disable_tqdm", "True", "--plot", "False", "--save_strategy", "no",
    ])
    model = trainer.model
    # the checkpoint's projector is trained on, not re-initialised (the step moved it a little)
    assert torch.allclose(model.model.multi_modal_projector.linear_1.weight.detach(),
                          state["model.mm_projector.0.weight"], atol=1e-2)
    info = read_run_info(run)
    assert info["base"]["model_name_or_path"] == str(src)
    assert (info["conv_template"], info["image_aspect_ratio"], info["num_image_tokens"]) == ("vicuna_v1", "square", 16)
    caplog.clear()
    caplog.set_level(logging.INFO)
    answers = tmp_path / "answers.jsonl"
    model_vqa_main(["--model-path", str(run), "--question-file", str(data.test_questions), "--image-folder",
                    str(data.image_folder), "--answers-file", str(answers), "--max_new_tokens", "2"])
    assert len(answers.read_text().splitlines()) == len(data.test_questions.read_text().splitlines())
    assert "using its converted llava-hf copy" in caplog.text
    assert "image aspect ratio square" in caplog.text
