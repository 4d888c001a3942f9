"""Build what a training run needs from its arguments: the model (with adapters) and the data."""
from __future__ import annotations

import importlib.util
import logging
from typing import Tuple

import torch

from llava.data.collator import DataCollatorForSupervisedDataset
from llava.data.conversation import get_template
from llava.data.dataset import LazySupervisedDataset
from llava.data.events import clear_events, events_dir, read_events
from llava.data.preflight import enforce, run_preflight_once
from llava.data.report import DataReport
from llava.model.checkpoint import BaseModelSpec
from llava.model.config import num_image_tokens
from teamlora import TeamLoraConfig, add_adapters, count_parameters

from .args import ALL_LINEAR, PEFT_CHOICES, DataArguments, ModelArguments, TrainingArguments

logger = logging.getLogger(__name__)


def check_arguments(model_args: ModelArguments, training_args: TrainingArguments) -> None:
    if model_args.peft not in PEFT_CHOICES:
        raise ValueError(f"--peft {model_args.peft!r} is not a method; choose one of {', '.join(PEFT_CHOICES)}")
    if model_args.peft != "none" and model_args.tune_mm_mlp_adapter:
        raise ValueError("--tune_mm_mlp_adapter (stage 1: projector only) cannot be combined with --peft adapters")
    if model_args.bits not in (4, 8, 16):
        raise ValueError(f"--bits must be 4, 8 or 16 (got {model_args.bits})")
    if model_args.bits != 16:
        if model_args.peft == "none":
            raise ValueError("--bits 4/8 quantises the frozen base: it needs an adapter method (--peft)")
        if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
            raise ValueError(f"--bits {model_args.bits} (QLoRA) needs a CUDA GPU and bitsandbytes "
                             "(pip install '.[gpu]'); on this machine train with --bits 16")
        if training_args.deepspeed and "zero3" in str(training_args.deepspeed):
            raise ValueError("--bits 4/8 does not combine with ZeRO-3 (quantised weights cannot be partitioned); use zero2")


# transformers 5 matches these from the start of the full module name or as its suffix: the bare names
# "vision_tower" / "multi_modal_projector" match nothing under LlavaForConditionalGeneration.model, and the
# tower and projector would be quantised too (then the projector cannot train).
QUANT_SKIP_MODULES = ("model.vision_tower", "model.multi_modal_projector", "lm_head")


def quantization_config(model_args: ModelArguments, dtype):
    """bitsandbytes NF4 (QLoRA) or int8 for the language model; tower, projector and lm_head stay as they are."""
    if model_args.bits == 16:
        return None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=model_args.bits == 4,
        load_in_8bit=model_args.bits == 8,
        bnb_4bit_compute_dtype=dtype or torch.bfloat16,
        bnb_4bit_use_double_quant=True,
        bnb_4bit_quant_type="nf4",
        llm_int8_skip_modules=list(QUANT_SKIP_MODULES),
    )


def init_distributed_for_cpu(training_args: TrainingArguments) -> None:
    """DeepSpeed on CPU talks gloo; ZeRO-3 partitions at model build, so this must come first."""
    if training_args.deepspeed and not torch.cuda.is_available():
        import deepspeed

        deepspeed.init_distributed(dist_backend="gloo")


def language_model_linear_names(model) -> list[str]:
    """Last name component of every nn.Linear in the language model (lm_head lies outside it):
    LLaVA's ``find_all_linear_names``, the targets of its --lora_enable."""
    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
             if isinstance(module, torch.nn.Linear) and ".language_model." in f".{name}."}
    names.discard("lm_head")
    return sorted(names)


def adapter_config(model_args: ModelArguments, model=None) -> TeamLoraConfig:
    targets = model_args.adapter_targets
    # "re:<regex>" -> one regex (TeamLoraConfig checks it compiles); all_linear -> every linear layer of the
    # language model (needs the model); else a comma-separated suffix list
    if targets == ALL_LINEAR:
        if model is None:
            raise ValueError(f"--adapter_targets {ALL_LINEAR} needs the model to list its linear layers")
        parsed = language_model_linear_names(model)
    else:
        parsed = targets[3:] if targets.startswith("re:") else [t.strip() for t in targets.split(",") if t.strip()]
    return TeamLoraConfig(
        method=model_args.peft,
        r=model_args.adapter_r,
        num_experts=1 if model_args.peft == "lora" else model_args.num_experts,
        alpha=model_args.adapter_alpha,
        dropout=model_args.adapter_dropout,
        target_modules=parsed,
        modules_scope="language_model",  # never the vision tower
        modules_to_save=[] if model_args.freeze_mm_mlp_adapter else ["multi_modal_projector"],
        router_hidden=model_args.router_hidden,
        variant=model_args.variant,  # unset: "authors" for teamlora; set on another method: a named error
        interaction_init=model_args.interaction_init,  # unset: the variant's own init
        interaction_offdiag=model_args.interaction_offdiag,
        use_interaction=model_args.use_interaction,  # False on another method: the config's named error
        balance_loss_coef=model_args.balance_loss_coef,
    )


def build_model(model_args: ModelArguments, training_args: TrainingArguments):
    """-> (model, processor, base_spec, save_mode). The vision tower is always frozen."""
    dtype = torch.bfloat16 if training_args.bf16 else torch.float16 if training_args.fp16 else None
    spec = BaseModelSpec(
        model_name_or_path=model_args.model_name_or_path,
        vision_tower=model_args.vision_tower,
        mm_projector_type=model_args.mm_projector_type,
        mm_vision_select_layer=model_args.mm_vision_select_layer,
        pretrain_mm_mlp_adapter=model_args.pretrain_mm_mlp_adapter,
    )
    quant = quantization_config(model_args, dtype)
    model, processor = spec.build(torch_dtype=dtype, attn_implementation=model_args.attn_implementation,
                                  quantization_config=quant)
    model.config.use_cache = False
    model.config.text_config.use_cache = False  # the language model reads its own config: no KV cache in training
    if quant is not None:
        from peft import prepare_model_for_kbit_training  # norms to fp32

        # Checkpointing is the Trainer's (activation_checkpointing_enable); peft would switch it on through
        # the deprecated gradient_checkpointing_enable, and the input grads it needs are set below.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if model_args.peft != "none":
        add_adapters(model, adapter_config(model_args, model))
        mode = "adapters"
    else:
        for name, p in model.named_parameters():
            if model_args.tune_mm_mlp_adapter:
                p.requires_grad_("multi_modal_projector" in name)
            else:
                p.requires_grad_("vision_tower" not in name and not (
                    model_args.freeze_mm_mlp_adapter and "multi_modal_projector" in name))
        mode = "projector" if model_args.tune_mm_mlp_adapter else "full"
    if training_args.activation_checkpointing:
        model.enable_input_require_grads()  # frozen embeddings would otherwise cut the graph
    logger.info("training mode %s: %s", mode, count_parameters(model))
    return model, processor, spec, mode


def build_data(data_args: DataArguments, training_args: TrainingArguments, model, processor
               ) -> Tuple[LazySupervisedDataset, DataCollatorForSupervisedDataset]:
    dataset = LazySupervisedDataset(
        data_args.data_path,
        processor.tokenizer,
        processor.image_processor,
        template=get_template(data_args.conv_template),
        image_folder=data_args.image_folder,
        num_image_tokens=num_image_tokens(model.config),
        model_max_length=training_args.model_max_length,
        image_aspect_ratio=data_args.image_aspect_ratio,
        skip_bad_samples=data_args.skip_bad_samples,
        truncate=data_args.truncate_long_samples,
        image_token=processor.image_token,
        events_dir=events_dir(training_args.output_dir),
    )
    collator = DataCollatorForSupervisedDataset.from_tokenizer(processor.tokenizer, training_args.model_max_length)
    return dataset, collator


def preflight_data(dataset: LazySupervisedDataset, data_args: DataArguments,
                   training_args: TrainingArguments, resuming: bool) -> DataReport:
    """Before the first step: one pass over the data, its table logged and saved in output_dir
    (data_report.json / .txt); stops (DataPolicyError) on quirks without a safe fix. ``resuming``: the
    run continues from a checkpoint, so the quirk events its earlier steps met are kept."""
    report = run_preflight_once(dataset, decode_images=data_args.validate_data,  # rank 0 only, shared
                                progress=not training_args.disable_tqdm and training_args.should_log)
    logger.info("data pre-flight (policy: truncate_long_samples=%s, skip_bad_samples=%s)\n%s",
                data_args.truncate_long_samples, data_args.skip_bad_samples, report.table())
    if training_args.should_save:
        if not resuming:  # events of an earlier run in this folder are not this run's
            clear_events(events_dir(training_args.output_dir))
        report.save(training_args.output_dir)
    enforce(report)
    return report


def finish_data_report(dataset: LazySupervisedDataset, report: DataReport, output_dir: str, is_main: bool) -> None:
    """End of run: add what was met while training, in this process and in every DataLoader
    worker or rank (their event files), then log and save the complete table."""
    for event in read_events(events_dir(output_dir)):
        report.add(event["reason"], event["id"], during_training=True)
    for reason, ids in dataset.skip_report()["ids"].items():
        for sample_id in ids:
            report.add(reason, sample_id, during_training=True)
    logger.info("data report (end of run)\n%s", report.table())
    if is_main:
        report.save(output_dir)
