"""Command-line arguments of `python -m llava.train.train` (HfArgumentParser dataclasses).

Names follow LLaVA's scripts where they exist (model_name_or_path, vision_tower, pretrain_mm_mlp_adapter,
tune_mm_mlp_adapter, mm_projector_lr, group_by_modality_length, ...), so its launch lines carry over.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import transformers

PEFT_CHOICES = ("none", "lora", "moelora", "hydralora", "teamlora")


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        metadata={"help": "A LLaVA checkpoint (llava-hf layout, e.g. the tiny default or a stage-1 full model), "
                  "or, with --vision_tower, the language model (e.g. lmsys/vicuna-7b-v1.5)."}
    )
    vision_tower: Optional[str] = field(
        default=None, metadata={"help": "CLIP vision tower to compose with the language model "
                                "(e.g. openai/clip-vit-large-patch14-336). Omit when model_name_or_path is a LLaVA."})
    mm_projector_type: str = field(default="mlp2x_gelu", metadata={"help": "Projector for a composed model."})
    mm_vision_select_layer: int = field(default=-2, metadata={"help": "CLIP layer whose features feed the projector."})
    pretrain_mm_mlp_adapter: Optional[str] = field(
        default=None, metadata={"help": "Stage-1 projector weights (our mm_projector.safetensors or LLaVA's mm_projector.bin)."})
    tune_mm_mlp_adapter: bool = field(
        default=False, metadata={"help": "Stage 1: train only the projector (language model and vision tower frozen)."})
    freeze_mm_mlp_adapter: bool = field(default=False, metadata={"help": "Keep the projector frozen in stage 2."})
    peft: str = field(default="none", metadata={"help": f"Adapter method: {' | '.join(PEFT_CHOICES)}. "
                                                "'none' trains the full language model (or only the projector with --tune_mm_mlp_adapter)."})
    adapter_r: int = field(default=32, metadata={"help": "Rank per expert (the rank, for lora)."})
    num_experts: int = field(default=4, metadata={"help": "Experts k for moelora/hydralora/teamlora."})
    adapter_alpha: float = field(default=64.0, metadata={"help": "Scaling = alpha / adapter_r."})
    adapter_dropout: float = field(default=0.05)
    adapter_targets: str = field(
        default="gate_proj,up_proj,down_proj",
        metadata={"help": "Comma-separated module-name suffixes inside the language model (FFN by default; add "
                  "q_proj,k_proj,v_proj,o_proj for attention), or one regex when it starts with 're:'."})
    router_hidden: int = field(default=0, metadata={"help": "TeamLoRA router hidden size (0 = linear router)."})
    interaction_init: str = field(default="uniform_diag", metadata={"help": "uniform_diag | identity"})
    use_interaction: bool = field(default=True, metadata={
        "help": "TeamLoRA only: False drops the interaction matrix (omega = phi), the 'collaboration only' "
                "ablation, which computes exactly what MoELoRA does."})
    balance_loss_coef: float = field(default=0.0, metadata={"help": "Load-balancing loss weight (off by default, as in the paper)."})
    bits: int = field(default=16, metadata={"help": "16, or 8/4 for a bitsandbytes-quantised language model under the "
                                            "adapters (QLoRA: NF4 + double quantisation; needs a CUDA GPU, not ZeRO-3)."})
    attn_implementation: Optional[str] = field(
        default=None, metadata={"help": "sdpa | eager | flash_attention_2; default: flash-attn when installed on a GPU, else sdpa."})


@dataclass
class DataArguments:
    data_path: str = field(metadata={"help": "LLaVA conversation data: a JSON list or JSONL file."})
    image_folder: Optional[str] = field(default=None, metadata={"help": "Folder that record 'image' paths are relative to."})
    conv_template: str = field(default="vicuna_v1", metadata={"help": "plain (stage 1) | vicuna_v1 (stage 2)."})
    image_aspect_ratio: str = field(default="pad", metadata={"help": "pad (LLaVA-1.5: pad to square) | none."})
    skip_bad_samples: bool = field(
        default=False, metadata={"help": "Skip and count bad records (missing image, malformed turns, too long) "
                                 "instead of stopping at the first one; the counts are logged at the end."})
    truncate_long_samples: bool = field(
        default=False, metadata={"help": "Cut the tail of over-long samples (never inside image tokens) instead of rejecting them."})
    validate_data: bool = field(default=False, metadata={"help": "Tokenise every record once before training (pre-flight check)."})


@dataclass
class TrainingArguments(transformers.TrainingArguments):
    model_max_length: int = field(default=2048, metadata={"help": "Longest tokenised sample (image tokens included)."})
    mm_projector_lr: Optional[float] = field(default=None, metadata={"help": "Separate learning rate for the projector."})
    group_by_modality_length: bool = field(
        default=False, metadata={"help": "Batch image and text-only samples separately, grouped by length (LLaVA-1.5)."})
    auto_resume: bool = field(
        default=True, metadata={"help": "Continue from the newest checkpoint-* in output_dir when there is one."})
    plot: bool = field(default=True, metadata={"help": "Write loss_curve.png (and expert_utilisation.png) beside the run."})
    warmup_ratio: Optional[float] = field(
        default=None, metadata={"help": "LLaVA's scripts' spelling: a warmup fraction, passed on as warmup_steps "
                                "(transformers 5 takes a float in [0, 1) there)."})

    def __post_init__(self):
        if self.warmup_ratio is not None:
            self.warmup_steps = self.warmup_ratio
        super().__post_init__()
