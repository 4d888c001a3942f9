"""Command-line arguments of `python -m llava.train.train` (HfArgumentParser dataclasses).

Names follow LLaVA's scripts where they exist (model_name_or_path, vision_tower, pretrain_mm_mlp_adapter,
tune_mm_mlp_adapter, mm_projector_lr, group_by_modality_length, ...), and every other flag LLaVA-1.5's
v1.5 scripts pass is accepted with LLaVA's meaning (--lora_enable/--lora_r/--lora_alpha, --version,
--image_aspect_ratio square|pad, --lazy_preprocess, --evaluation_strategy, --mm_use_im_start_end False,
--mm_use_im_patch_token False), so its launch lines carry over unchanged. A value this project does not
support is one named error, never silently ignored.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import transformers

from llava.entry import FlagError  # one line on stderr, exit 2
from teamlora import TeamLoraConfig

from .save_and_stop import parse_signals

_ADAPTER_HELP = TeamLoraConfig.help_text()  # the adapter flags say what the library's fields say

PEFT_CHOICES = ("none", "lora", "moelora", "hydralora", "teamlora")
ALL_LINEAR = "all_linear"  # --adapter_targets: every linear layer of the language model (LLaVA's LoRA targets)
VERSIONS = {"v1": "vicuna_v1", "vicuna_v1": "vicuna_v1", "plain": "plain"}  # LLaVA's --version -> template
TEMPLATE_NAMES = ("vicuna_v1", "v1", "plain", "plain_eos")
ASPECT_RATIOS = {"square": "square", "pad": "pad", "none": "square"}  # "none": this project's earlier name


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
    adapter_alpha: Optional[float] = field(
        default=None, metadata={"help": "Scaling = alpha / adapter_r; unset: TeamLoraConfig's default (2 * adapter_r)."})
    adapter_dropout: float = field(default=0.05)
    adapter_targets: str = field(
        default="gate_proj,up_proj,down_proj",
        metadata={"help": "Comma-separated module-name suffixes inside the language model (FFN by default; add "
                  f"q_proj,k_proj,v_proj,o_proj for attention), one regex when it starts with 're:', or {ALL_LINEAR} "
                  "for every linear layer of the language model (what --lora_enable adapts)."})
    router_hidden: int = field(default=0, metadata={"help": "TeamLoRA router hidden size (0 = linear router)."})
    variant: Optional[str] = field(default=None, metadata={"help": _ADAPTER_HELP["variant"]})
    interaction_init: Optional[str] = field(default=None, metadata={"help": _ADAPTER_HELP["interaction_init"]})
    interaction_offdiag: Optional[float] = field(default=None, metadata={"help": _ADAPTER_HELP["interaction_offdiag"]})
    use_interaction: bool = field(default=True, metadata={
        "help": "TeamLoRA only: False drops the interaction matrix (omega = phi), the 'collaboration only' "
                "ablation, which computes exactly what MoELoRA does."})
    balance_loss_coef: float = field(default=0.0, metadata={"help": "Load-balancing loss weight (off by default, as in the paper)."})
    bits: int = field(default=16, metadata={"help": "16, or 8/4 for a bitsandbytes-quantised language model under the "
                                            "adapters (QLoRA: NF4 + double quantisation; needs a CUDA GPU, not ZeRO-3)."})
    attn_implementation: Optional[str] = field(
        default=None, metadata={"help": "sdpa | eager | flash_attention_2; default: flash-attn when installed on a GPU, else sdpa."})
    # ---- LLaVA-1.5's spellings (its scripts pass them; same meaning) ----
    lora_enable: bool = field(default=False, metadata={
        "help": "LLaVA: plain LoRA on every linear layer of the language model except lm_head "
                f"(= --peft lora --adapter_targets {ALL_LINEAR}), rank --lora_r, alpha --lora_alpha."})
    lora_r: Optional[int] = field(default=None, metadata={"help": "LLaVA: LoRA rank with --lora_enable (default 64, as LLaVA)."})
    lora_alpha: Optional[float] = field(default=None, metadata={"help": "LLaVA: LoRA alpha with --lora_enable (default 16, as LLaVA)."})
    lora_dropout: Optional[float] = field(default=None, metadata={"help": "LLaVA: LoRA dropout with --lora_enable (default 0.05)."})
    lora_bias: str = field(default="none", metadata={"help": "LLaVA: only 'none' is supported."})
    mm_use_im_start_end: bool = field(default=False, metadata={"help": "LLaVA: only False is supported (LLaVA-1.5's setting)."})
    mm_use_im_patch_token: bool = field(default=False, metadata={"help": "LLaVA: only False is supported (LLaVA-1.5's setting)."})

    def __post_init__(self):
        for name in ("mm_use_im_start_end", "mm_use_im_patch_token"):
            if getattr(self, name):
                raise FlagError(f"--{name} True is not supported (LLaVA-1.5 trains with False): drop the flag or pass False")
        if self.lora_bias != "none":
            raise FlagError(f"--lora_bias {self.lora_bias!r} is not supported: only 'none' (LLaVA-1.5's setting)")
        lora_given = [f"--{n}" for n in ("lora_r", "lora_alpha", "lora_dropout") if getattr(self, n) is not None]
        if not self.lora_enable:
            if lora_given:
                raise FlagError(f"{', '.join(lora_given)} only mean something with --lora_enable True "
                                "(or use --peft lora --adapter_r R --adapter_alpha A)")
            return
        if self.peft not in ("none", "lora"):
            raise FlagError(f"--lora_enable True is plain LoRA; it cannot be combined with --peft {self.peft}")
        self.peft = "lora"
        self.adapter_r = 64 if self.lora_r is None else self.lora_r  # LLaVA's defaults
        self.adapter_alpha = 16.0 if self.lora_alpha is None else self.lora_alpha
        self.adapter_dropout = 0.05 if self.lora_dropout is None else self.lora_dropout
        self.adapter_targets = ALL_LINEAR


@dataclass
class DataArguments:
    data_path: str = field(metadata={"help": "LLaVA conversation data: a JSON list or JSONL file."})
    image_folder: Optional[str] = field(default=None, metadata={"help": "Folder that record 'image' paths are relative to."})
    conv_template: Optional[str] = field(default=None, metadata={
        "help": "plain (stage 1, LLaVA's: caption + '\\n') | vicuna_v1 (stage 2) | plain_eos (plain ending in </s>, "
                "the embedded default's stage 1). Default: --version, else vicuna_v1."})
    version: Optional[str] = field(default=None, metadata={"help": "LLaVA's name for the template: v1 (= vicuna_v1) | plain."})
    image_aspect_ratio: str = field(default="square", metadata={
        "help": "As LLaVA-1.5: square (its default: the processor resizes and centre-crops) | pad (pad to a square "
                "of the mean colour first; LLaVA-1.5's stage 2 passes it)."})
    lazy_preprocess: bool = field(default=True, metadata={"help": "LLaVA: accepted; records are always tokenised lazily."})
    skip_bad_samples: bool = field(
        default=False, metadata={"help": "Skip and count records whose quirk has no safe fix (missing or corrupt image, "
                                 "malformed turns, ...) instead of stopping at pre-flight; named in data_report.json."})
    truncate_long_samples: bool = field(
        default=True, metadata={"help": "Over-long records are cut to model_max_length (never inside the image tokens), "
                                "counted and named, as LLaVA truncates; False: they stop the run (or are skipped)."})
    validate_data: bool = field(default=False, metadata={
        "help": "Deeper pre-flight: decode every image (in parallel) instead of only checking it exists; corrupt ones "
                "follow the same policy table."})

    def __post_init__(self):
        if self.version is not None and self.version not in VERSIONS:
            raise FlagError(f"--version {self.version!r} is not supported; LLaVA-1.5's are: {', '.join(VERSIONS)}")
        from_version = VERSIONS.get(self.version) if self.version else None
        if self.conv_template is not None and self.conv_template not in TEMPLATE_NAMES:
            raise FlagError(f"--conv_template {self.conv_template!r} is not a template; known: {', '.join(TEMPLATE_NAMES)}")
        family = {"v1": "vicuna_v1", "plain_eos": "plain"}.get(self.conv_template, self.conv_template)
        if from_version and self.conv_template and family != from_version:
            raise FlagError(f"--version {self.version} and --conv_template {self.conv_template} disagree; pass one")
        self.conv_template = self.conv_template or from_version or "vicuna_v1"
        if self.image_aspect_ratio not in ASPECT_RATIOS:
            raise FlagError(f"--image_aspect_ratio {self.image_aspect_ratio!r} is not supported; "
                            "choose square (LLaVA's default) or pad")
        self.image_aspect_ratio = ASPECT_RATIOS[self.image_aspect_ratio]


@dataclass
class TrainingArguments(transformers.TrainingArguments):
    model_max_length: int = field(default=2048, metadata={"help": "Longest tokenised sample (image tokens included)."})
    mm_projector_lr: Optional[float] = field(default=None, metadata={"help": "Separate learning rate for the projector."})
    group_by_modality_length: bool = field(
        default=False, metadata={"help": "Batch image and text-only samples separately, grouped by length (LLaVA-1.5)."})
    auto_resume: bool = field(
        default=True, metadata={"help": "Continue from the newest checkpoint-* in output_dir when there is one."})
    plot: bool = field(default=True, metadata={"help": "Write loss_curve.png (and expert_utilisation.png) beside the run."})
    stop_on_signals: str = field(
        default="SIGTERM,SIGUSR1", metadata={"help": "On these signals, finish the step, save a checkpoint on every rank "
                                             "and exit with code 75 (rerun to continue); 'none' to let them kill the run."})
    time_limit_hours: Optional[float] = field(
        default=None, metadata={"help": "Wall-clock budget from the process's start (e.g. the scheduler's limit): "
                                "save and exit with code 75 before it runs out."})
    stop_margin_minutes: float = field(
        default=10.0, metadata={"help": "With --time_limit_hours: stop when less than this is left (or less than "
                                "three of the slowest steps, a save included)."})
    warmup_ratio: Optional[float] = field(
        default=None, metadata={"help": "LLaVA's scripts' spelling: a warmup fraction, passed on as warmup_steps "
                                "(transformers 5 takes a float in [0, 1) there)."})
    evaluation_strategy: Optional[str] = field(
        default=None, metadata={"help": "LLaVA's scripts' spelling of --eval_strategy (transformers 5 dropped it)."})
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "As LLaVA: False (the collator already gives the model exactly its inputs)."})
    # Our own field, not transformers' deprecated alias: LLaVA's scripts pass it, so it must neither warn
    # (transformers 5.24) nor go away (transformers 6).
    gradient_checkpointing: Optional[bool] = field(
        default=None, metadata={"help": "LLaVA's scripts' spelling of --activation_checkpointing (same meaning; "
                                "--activation_checkpointing wins when both are given).", "nargs": "?", "const": True})

    def __post_init__(self):
        if self.activation_checkpointing is None and self.gradient_checkpointing is not None:
            self.activation_checkpointing = self.gradient_checkpointing  # set before transformers sees its alias
        if self.warmup_ratio is not None:
            self.warmup_steps = self.warmup_ratio
        if self.evaluation_strategy is not None:
            self.eval_strategy = self.evaluation_strategy
        parse_signals(self.stop_on_signals)  # an unknown name is one flag error before anything loads
        if self.time_limit_hours is not None and self.time_limit_hours <= 0:
            raise ValueError(f"--time_limit_hours must be > 0, got {self.time_limit_hours}")
        super().__post_init__()
