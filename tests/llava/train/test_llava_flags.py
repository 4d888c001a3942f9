"""LLaVA-1.5's own v1.5 command lines parse, to exactly the settings of our own flags.

The four command lines are LLaVA-1.5's scripts/v1_5/{pretrain,finetune,finetune_lora,
finetune_task_lora}.sh, written out with paths replaced.
"""
import dataclasses
import shlex
import warnings
from pathlib import Path

import pytest
import transformers.training_args as hf_training_args
from transformers import HfArgumentParser

from llava.train.args import ALL_LINEAR, DataArguments, FlagError, ModelArguments, TrainingArguments

REPO = Path(__file__).resolve().parents[3]
ZERO2, ZERO3 = REPO / "scripts" / "zero2.json", REPO / "scripts" / "zero3.json"

COMMON_TAIL = """--bf16 True --output_dir {out} --num_train_epochs 1 --per_device_train_batch_size 16
    --per_device_eval_batch_size 4 --gradient_accumulation_steps {accum} --evaluation_strategy "no"
    --save_strategy "steps" --save_steps {save} --save_total_limit 1 --learning_rate {lr} --weight_decay 0.
    --warmup_ratio 0.03 --lr_scheduler_type "cosine" --logging_steps 1 --tf32 True --model_max_length 2048
    --gradient_checkpointing True --dataloader_num_workers 4 --lazy_preprocess True --report_to wandb"""

LLAVA = {
    "pretrain": f"""--deepspeed {ZERO2} --model_name_or_path lmsys/vicuna-13b-v1.5 --version plain
        --data_path D/blip_laion_cc_sbu_558k.json --image_folder D/images
        --vision_tower openai/clip-vit-large-patch14-336 --mm_projector_type mlp2x_gelu --tune_mm_mlp_adapter True
        --mm_vision_select_layer -2 --mm_use_im_start_end False --mm_use_im_patch_token False
        """ + COMMON_TAIL.format(out="{out}", accum=4, save=24000, lr="1e-3"),
    "finetune": f"""--deepspeed {ZERO3} --model_name_or_path lmsys/vicuna-13b-v1.5 --version v1
        --data_path D/llava_v1_5_mix665k.json --image_folder D --vision_tower openai/clip-vit-large-patch14-336
        --pretrain_mm_mlp_adapter P/mm_projector.bin --mm_projector_type mlp2x_gelu --mm_vision_select_layer -2
        --mm_use_im_start_end False --mm_use_im_patch_token False --image_aspect_ratio pad
        --group_by_modality_length True """ + COMMON_TAIL.format(out="{out}", accum=1, save=50000, lr="2e-5"),
    "finetune_lora": f"""--lora_enable True --lora_r 128 --lora_alpha 256 --mm_projector_lr 2e-5
        --deepspeed {ZERO3} --model_name_or_path lmsys/vicuna-13b-v1.5 --version v1
        --data_path D/llava_v1_5_mix665k.json --image_folder D --vision_tower openai/clip-vit-large-patch14-336
        --pretrain_mm_mlp_adapter P/mm_projector.bin --mm_projector_type mlp2x_gelu --mm_vision_select_layer -2
        --mm_use_im_start_end False --mm_use_im_patch_token False --image_aspect_ratio pad
        --group_by_modality_length True """ + COMMON_TAIL.format(out="{out}", accum=1, save=50000, lr="2e-4"),
    "finetune_task_lora": f"""--lora_enable True --lora_r 128 --lora_alpha 256 --mm_projector_lr 2e-5
        --deepspeed {ZERO3} --model_name_or_path liuhaotian/llava-v1.5-13b --version v1
        --data_path D/llava_v1_5_mix665k.json --image_folder D --vision_tower openai/clip-vit-large-patch14-336
        --mm_projector_type mlp2x_gelu --mm_vision_select_layer -2 --mm_use_im_start_end False
        --mm_use_im_patch_token False --image_aspect_ratio pad --group_by_modality_length True
        """ + COMMON_TAIL.format(out="{out}", accum=1, save=50000, lr="2e-4"),
}

# The same runs in this project's own spelling.
OURS_TAIL = """--bf16 True --output_dir {out} --num_train_epochs 1 --per_device_train_batch_size 16
    --per_device_eval_batch_size 4 --gradient_accumulation_steps {accum} --eval_strategy no --save_strategy steps
    --save_steps {save} --save_total_limit 1 --learning_rate {lr} --weight_decay 0. --warmup_steps 0.03
    --lr_scheduler_type cosine --logging_steps 1 --tf32 True --model_max_length 2048 --activation_checkpointing True
    --dataloader_num_workers 4 --report_to wandb --remove_unused_columns False"""
LORA = f"--peft lora --adapter_r 128 --adapter_alpha 256 --adapter_dropout 0.05 --adapter_targets {ALL_LINEAR}"
OURS = {
    "pretrain": f"""--deepspeed {ZERO2} --model_name_or_path lmsys/vicuna-13b-v1.5 --conv_template plain
        --data_path D/blip_laion_cc_sbu_558k.json --image_folder D/images --image_aspect_ratio square
        --vision_tower openai/clip-vit-large-patch14-336 --mm_projector_type mlp2x_gelu --tune_mm_mlp_adapter True
        --mm_vision_select_layer -2 --peft none """ + OURS_TAIL.format(out="{out}", accum=4, save=24000, lr="1e-3"),
    "finetune": f"""--deepspeed {ZERO3} --model_name_or_path lmsys/vicuna-13b-v1.5 --conv_template vicuna_v1
        --data_path D/llava_v1_5_mix665k.json --image_folder D --vision_tower openai/clip-vit-large-patch14-336
        --pretrain_mm_mlp_adapter P/mm_projector.bin --mm_projector_type mlp2x_gelu --mm_vision_select_layer -2
        --image_aspect_ratio pad --group_by_modality_length True """
        + OURS_TAIL.format(out="{out}", accum=1, save=50000, lr="2e-5"),
    "finetune_lora": f"""{LORA} --mm_projector_lr 2e-5 --deepspeed {ZERO3} --model_name_or_path lmsys/vicuna-13b-v1.5
        --conv_template vicuna_v1 --data_path D/llava_v1_5_mix665k.json --image_folder D
        --vision_tower openai/clip-vit-large-patch14-336 --pretrain_mm_mlp_adapter P/mm_projector.bin
        --mm_projector_type mlp2x_gelu --mm_vision_select_layer -2 --image_aspect_ratio pad
        --group_by_modality_length True """ + OURS_TAIL.format(out="{out}", accum=1, save=50000, lr="2e-4"),
    "finetune_task_lora": f"""{LORA} --mm_projector_lr 2e-5 --deepspeed {ZERO3}
        --model_name_or_path liuhaotian/llava-v1.5-13b --conv_template vicuna_v1 --data_path D/llava_v1_5_mix665k.json
        --image_folder D --vision_tower openai/clip-vit-large-patch14-336 --mm_projector_type mlp2x_gelu
        --mm_vision_select_layer -2 --image_aspect_ratio pad --group_by_modality_length True """
        + OURS_TAIL.format(out="{out}", accum=1, save=50000, lr="2e-4"),
}

LLAVA_SPELLINGS = {"lora_enable", "lora_r", "lora_alpha", "lora_dropout", "version", "lazy_preprocess",
                   "evaluation_strategy", "warmup_ratio"}


@pytest.fixture
def gpu_flags_parse_on_cpu(monkeypatch):
    """LLaVA's lines say --bf16 True --tf32 True; transformers checks the GPU for those at parse time."""
    monkeypatch.setattr(hf_training_args, "is_torch_tf32_available", lambda: True)
    monkeypatch.setattr(hf_training_args, "enable_tf32", lambda *a, **k: None)
    monkeypatch.setattr(hf_training_args, "is_torch_bf16_gpu_available", lambda: True)


def parse(line, out):
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    return parser.parse_args_into_dataclasses(args=shlex.split(line.format(out=out)), return_remaining_strings=False)


def settings(parsed):
    out = {}
    for part in parsed:
        values = part.to_dict() if hasattr(part, "to_dict") else dataclasses.asdict(part)
        out.update({k: v for k, v in values.items() if k not in LLAVA_SPELLINGS})
    return out


@pytest.mark.parametrize("script", sorted(LLAVA))
def test_llava_command_line_means_our_flags(script, tmp_path, gpu_flags_parse_on_cpu):
    theirs = settings(parse(LLAVA[script], tmp_path))
    ours = settings(parse(OURS[script], tmp_path))
    different = {k: (theirs.get(k), ours.get(k)) for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k)}
    assert different == {}
    lora = "lora" in script
    assert theirs["peft"] == ("lora" if lora else "none")
    assert theirs["adapter_targets"] == (ALL_LINEAR if lora else "gate_proj,up_proj,down_proj")
    assert theirs["image_aspect_ratio"] == ("square" if script == "pretrain" else "pad")
    assert theirs["conv_template"] == ("plain" if script == "pretrain" else "vicuna_v1")
    assert theirs["activation_checkpointing"] is True  # from --gradient_checkpointing True


@pytest.mark.parametrize("flags, expected", [
    ([], False),
    (["--gradient_checkpointing", "True"], True),  # LLaVA's spelling
    (["--gradient_checkpointing"], True),
    (["--activation_checkpointing", "True"], True),  # transformers' current name
    (["--gradient_checkpointing", "True", "--activation_checkpointing", "False"], False),  # the current name wins
])
def test_gradient_checkpointing_means_activation_checkpointing_without_a_warning(flags, expected, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # transformers 5.24 warns FutureWarning for its own alias
        (args,) = HfArgumentParser(TrainingArguments).parse_args_into_dataclasses(
            ["--output_dir", str(tmp_path), "--report_to", "none", *flags])
    assert args.activation_checkpointing is expected
    assert args.gradient_checkpointing is expected  # transformers mirrors the alias for code that reads it


def test_lora_enable_targets_every_language_model_linear_but_lm_head():
    from transformers import LlavaForConditionalGeneration

    from llava.model.tiny import tiny_llava_config
    from llava.train.build import adapter_config, language_model_linear_names

    config = tiny_llava_config(vocab_size=64, image_token_id=4, bos_token_id=1, eos_token_id=2, pad_token_id=3,
                               vision_hidden=32, vision_layers=1, text_hidden=64, text_layers=1)
    model = LlavaForConditionalGeneration(config)
    names = language_model_linear_names(model)
    assert names == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    model_args = ModelArguments(model_name_or_path="m", lora_enable=True, lora_r=8, lora_alpha=16)
    config = adapter_config(model_args, model)
    assert config.method == "lora" and sorted(config.target_modules) == names
    assert config.r == 8 and config.alpha == 16 and config.num_experts == 1


def test_teamlora_variant_flags_reach_the_adapter_config():
    from llava.train.build import adapter_config
    from teamlora.errors import AdapterConfigError

    parser = HfArgumentParser(ModelArguments)
    (default,) = parser.parse_args_into_dataclasses(["--model_name_or_path", "m", "--peft", "teamlora"])
    config = adapter_config(default)  # the authors' layer and init unless a flag says otherwise
    assert (config.variant, config.interaction_init, config.interaction_offdiag) == ("authors", "centered_diag", 0.1)
    assert config.alpha == 64.0  # 2 * r (r = 32)
    (paper,) = parser.parse_args_into_dataclasses(
        ["--model_name_or_path", "m", "--peft", "teamlora", "--variant", "paper", "--interaction_offdiag", "0.02"])
    config = adapter_config(paper)
    assert (config.variant, config.interaction_init, config.interaction_offdiag) == ("paper", "uniform_diag", 0.02)
    (wrong,) = parser.parse_args_into_dataclasses(["--model_name_or_path", "m", "--peft", "moelora", "--variant", "paper"])
    with pytest.raises(AdapterConfigError, match="variant='paper' is a teamlora setting; 'moelora' has no variants"):
        adapter_config(wrong)


def test_llava_defaults_for_lora_and_aspect_ratio():
    model_args = ModelArguments(model_name_or_path="m", lora_enable=True)
    assert (model_args.adapter_r, model_args.adapter_alpha, model_args.adapter_dropout) == (64, 16.0, 0.05)
    data_args = DataArguments(data_path="d")
    assert data_args.image_aspect_ratio == "square" and data_args.conv_template == "vicuna_v1"
    assert data_args.truncate_long_samples is True and data_args.skip_bad_samples is False
    assert ModelArguments(model_name_or_path="m").adapter_alpha is None  # TeamLoraConfig's default decides
    assert DataArguments(data_path="d", image_aspect_ratio="none").image_aspect_ratio == "square"


@pytest.mark.parametrize("kwargs, message", [
    (dict(mm_use_im_start_end=True), "--mm_use_im_start_end True is not supported"),
    (dict(mm_use_im_patch_token=True), "--mm_use_im_patch_token True is not supported"),
    (dict(lora_enable=True, peft="teamlora"), "cannot be combined with --peft teamlora"),
    (dict(lora_r=16), "--lora_r only mean something with --lora_enable True"),
    (dict(lora_enable=True, lora_bias="all"), "--lora_bias 'all' is not supported"),
])
def test_unsupported_model_flags_are_named_errors(kwargs, message):
    with pytest.raises(FlagError, match=message):
        ModelArguments(model_name_or_path="m", **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(version="v0"), "--version 'v0' is not supported; LLaVA-1.5's are: v1, vicuna_v1, plain"),
    (dict(version="llava_llama_2"), "--version 'llava_llama_2' is not supported"),
    (dict(version="plain", conv_template="vicuna_v1"), "disagree"),
    (dict(conv_template="chatml"), "--conv_template 'chatml' is not a template"),
    (dict(image_aspect_ratio="anyres"), "--image_aspect_ratio 'anyres' is not supported"),
])
def test_unsupported_data_flags_are_named_errors(kwargs, message):
    with pytest.raises(FlagError, match=message):
        DataArguments(data_path="d", **kwargs)
