"""Original LLaVA-1.5 checkpoint -> llava-hf: a fabricated tiny checkpoint in the original naming."""
import json

import pytest
import torch
from PIL import Image
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

from llava.model.builder import load_llava
from llava.model.convert import convert_checkpoint, main
from llava.model.tiny import train_tokenizer

HIDDEN, TOWER_HIDDEN = 64, 32


def _original_checkpoint(root, *, with_tower=True, extra=None, drop=None, config_overrides=None):
    """Write config.json, tokenizer and pytorch_model.bin the way LLaVA-1.5 saves them."""
    tower_dir = root / "clip"
    if not tower_dir.exists():
        torch.manual_seed(1)
        CLIPVisionModel(CLIPVisionConfig(hidden_size=TOWER_HIDDEN, intermediate_size=64, num_hidden_layers=3,
                                         num_attention_heads=2, image_size=32, patch_size=8)).save_pretrained(tower_dir)
        CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(tower_dir)
    src = root / "src"
    src.mkdir()
    tokenizer = train_tokenizer(["USER: what colour ASSISTANT: red", "a blue square"] * 20, vocab_size=280,
                                image_token="<unused>")
    tokenizer.pad_token = None  # like Vicuna: no pad, no <image>
    tokenizer.save_pretrained(src)
    llama = LlamaConfig(vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=144, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    torch.manual_seed(0)
    state = dict(LlamaForCausalLM(llama).state_dict())  # model.embed_tokens, model.layers.*, model.norm, lm_head
    state.update({
        "model.mm_projector.0.weight": torch.randn(HIDDEN, TOWER_HIDDEN), "model.mm_projector.0.bias": torch.randn(HIDDEN),
        "model.mm_projector.2.weight": torch.randn(HIDDEN, HIDDEN), "model.mm_projector.2.bias": torch.randn(HIDDEN),
        "model.layers.0.self_attn.rotary_emb.inv_freq": torch.ones(8),  # stored by old transformers
    })
    if with_tower:
        tower = CLIPVisionModel.from_pretrained(tower_dir).state_dict()
        state.update({"model.vision_tower.vision_tower.vision_model." + k: v for k, v in tower.items()})
    state.update(extra or {})
    for key in drop or ():
        del state[key]
    torch.save(state, src / "pytorch_model.bin")
    config = {**llama.to_dict(), "architectures": ["LlavaLlamaForCausalLM"], "model_type": "llava_llama",
              "mm_vision_tower": str(tower_dir), "mm_hidden_size": TOWER_HIDDEN, "mm_projector_type": "mlp2x_gelu",
              "mm_vision_select_layer": -2, "mm_vision_select_feature": "patch", "image_aspect_ratio": "pad",
              "mm_use_im_start_end": False, **(config_overrides or {})}
    (src / "config.json").write_text(json.dumps(config))
    return src, state, len(tokenizer)


def test_converted_model_holds_the_source_weights_and_runs(tmp_path):
    src, state, vocab = _original_checkpoint(tmp_path)
    out = main(["--src", str(src), "--out", str(tmp_path / "hf")])
    model, processor = load_llava(out)
    converted = model.state_dict()
    assert torch.equal(converted["model.language_model.embed_tokens.weight"][:vocab], state["model.embed_tokens.weight"])
    assert torch.equal(converted["lm_head.weight"][:vocab], state["lm_head.weight"])
    assert converted["lm_head.weight"].shape[0] == vocab + 1  # + <image>; pad reuses <unk>
    for key in ("layers.1.mlp.down_proj.weight", "layers.0.self_attn.q_proj.weight", "norm.weight"):
        assert torch.equal(converted["model.language_model." + key], state["model." + key])
    assert torch.equal(converted["model.multi_modal_projector.linear_1.weight"], state["model.mm_projector.0.weight"])
    assert torch.equal(converted["model.multi_modal_projector.linear_2.bias"], state["model.mm_projector.2.bias"])
    tower_prefix = "model.vision_tower.vision_tower.vision_model."
    tower_keys = [k for k in state if k.startswith(tower_prefix)]
    assert tower_keys and all(torch.equal(converted["model.vision_tower." + k[len(tower_prefix):]], state[k])
                              for k in tower_keys)
    assert model.config.vision_feature_layer == -2
    assert model.config.vision_feature_select_strategy == "default"
    assert processor.tokenizer.pad_token == "<unk>"
    assert json.loads((out / "llava_original_fields.json").read_text())["image_aspect_ratio"] == "pad"

    batch = processor(images=Image.new("RGB", (32, 32), (0, 90, 200)), text="USER: <image>\nwhat colour",
                      return_tensors="pt")
    with torch.no_grad():
        assert torch.isfinite(model(**batch).logits).all()


def test_checkpoint_without_vision_tower_takes_it_from_mm_vision_tower(tmp_path):
    src, _, _ = _original_checkpoint(tmp_path, with_tower=False)
    model, _ = load_llava(convert_checkpoint(src, tmp_path / "hf"))
    clip = CLIPVisionModel.from_pretrained(tmp_path / "clip").state_dict()
    assert all(torch.equal(model.model.vision_tower.state_dict()[k], v) for k, v in clip.items())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(extra={"model.mm_projector.4.weight": torch.ones(2)}), r"model\.mm_projector\.4\.weight"),
        (dict(drop=["model.layers.1.mlp.up_proj.weight"]), r"missing.*model\.language_model\.layers\.1\.mlp\.up_proj"),
        (dict(config_overrides={"mm_projector_type": "linear"}), r"mm_projector_type='linear'"),
        (dict(config_overrides={"mm_hidden_size": 48}), r"mm_hidden_size=48"),
    ],
)
def test_bad_checkpoints_get_one_clear_error(tmp_path, kwargs, message):
    src, _, _ = _original_checkpoint(tmp_path, **kwargs)
    with pytest.raises(ValueError, match=message):
        convert_checkpoint(src, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()
