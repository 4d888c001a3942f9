"""LlavaTrainer: transformers' Trainer plus what LLaVA + TeamLoRA training needs.

- a separate learning rate for the projector (--mm_projector_lr),
- the modality-length grouped batch sampler (--group_by_modality_length),
- expert-utilisation statistics in every log line, and the optional balance loss,
- checkpoints that always load for inference (adapters + projector + config + processor) and resume,
  written under a temporary name and renamed when whole (see .checkpoints), with side logs cut back
  to the resumed step.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Optional

import torch
from torch.utils.data import DataLoader
from transformers import Trainer
from transformers.trainer_callback import TrainerState
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from eval.jsonl import keep_records
from llava.data.sampler import ModalityLengthGroupedSampler
from llava.model.builder import PROJECTOR_PREFIX, load_projector
from llava.model.checkpoint import PROJECTOR_NAME, BaseModelSpec, write_run_info
from safetensors.torch import save_file
from teamlora import (
    adapter_state_dict,
    adapter_stats,
    balance_loss,
    get_config,
    has_adapters,
    load_adapter_weights,
    reset_adapter_stats,
    save_adapters,
    summarize_stats,
)

from .checkpoints import (
    TRAINER_STATE,
    CheckpointError,
    check_resumable,
    newest_complete,
    publish,
    remove_staging,
    rotate,
    staging_dir,
)
from .plots import EXPERT_STATS_FILE
from .zero import gather_state

logger = logging.getLogger("llava.train")
SIDE_LOGS = (EXPERT_STATS_FILE,)  # append-only, one {"step": ...} record per line, in output_dir


def _projector_state(model) -> dict:
    return {n: p for n, p in model.named_parameters() if PROJECTOR_PREFIX in n}


class LlavaTrainer(Trainer):
    """save_mode: "adapters" | "projector" | "full" (see llava.model.checkpoint)."""

    def __init__(self, *args, save_mode: str, base_spec: BaseModelSpec, run_extra: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.save_mode = save_mode
        self.base_spec = base_spec
        self.run_extra = run_extra or {}
        # read once: the config does not change during training, and compute_loss runs every step
        self.balance_coef = get_config(self.model).balance_loss_coef if has_adapters(self.model) else 0.0
        self._staging: Optional[str] = None  # set while a checkpoint is being written (see _save_checkpoint)

    # ---- data ------------------------------------------------------------------------------
    def get_train_dataloader(self) -> DataLoader:
        if not self.args.group_by_modality_length:
            return super().get_train_dataloader()
        sampler = ModalityLengthGroupedSampler(
            self.train_dataset.modality_lengths,
            batch_size=self.args.per_device_train_batch_size,
            world_size=self.args.world_size,
            seed=self.args.seed,
        )
        loader = DataLoader(
            self.train_dataset,
            batch_sampler=sampler,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
        )
        return self.accelerator.prepare(loader)

    # ---- optimisation ----------------------------------------------------------------------
    def create_optimizer(self, model=None):
        if self.args.mm_projector_lr is None or self.optimizer is not None:
            return super().create_optimizer(model)
        opt_model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(opt_model))
        groups = {}
        for name, p in opt_model.named_parameters():
            if not p.requires_grad:
                continue
            is_proj = PROJECTOR_PREFIX in name
            key = (is_proj, name in decay)
            group = groups.setdefault(key, {"params": [], "weight_decay": self.args.weight_decay if key[1] else 0.0})
            if is_proj:
                group["lr"] = self.args.mm_projector_lr
            group["params"].append(p)
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        # projector groups last: the logged learning_rate is the first group's, i.e. the main one
        ordered = [groups[key] for key in sorted(groups, key=lambda key: key[0])]
        self.optimizer = optimizer_cls(ordered, **optimizer_kwargs)
        return self.optimizer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        result = super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        if self.balance_coef > 0:
            aux = self.balance_coef * balance_loss(model).to(result[0].device if return_outputs else result.device)
            result = (result[0] + aux, result[1]) if return_outputs else result + aux
        return result

    # ---- logging ---------------------------------------------------------------------------
    def log(self, logs: dict, start_time: Optional[float] = None) -> None:
        stats = adapter_stats(self.model)
        if stats and "loss" in logs:  # training log lines only; eval lines leave the counters alone
            logs.update(summarize_stats(stats))
            if self.args.should_save:
                record = {"step": self.state.global_step, "layers": {k: v.phi.tolist() for k, v in stats.items()}}
                os.makedirs(self.args.output_dir, exist_ok=True)
                with open(os.path.join(self.args.output_dir, EXPERT_STATS_FILE), "a") as f:
                    f.write(json.dumps(record) + "\n")
            reset_adapter_stats(self.model)
        super().log(logs, start_time)

    # ---- saving and resuming ---------------------------------------------------------------
    def train(self, resume_from_checkpoint=None, **kwargs):
        """Resume only from a complete checkpoint, clear what killed saves left, cut side logs back."""
        args = self.args
        if resume_from_checkpoint is True:  # transformers would take the newest folder, complete or not
            resume_from_checkpoint = newest_complete(args.output_dir, args.save_only_model)
            if resume_from_checkpoint is None:
                raise CheckpointError(f"resume_from_checkpoint=True but {args.output_dir} holds no complete checkpoint")
        elif resume_from_checkpoint:
            check_resumable(resume_from_checkpoint, args.save_only_model)
        if args.local_process_index == 0:  # one process per node (disks may be per node); before any save
            remove_staging(args.output_dir)
        if args.should_save:
            step = TrainerState.load_from_json(os.path.join(resume_from_checkpoint, TRAINER_STATE)).global_step \
                if resume_from_checkpoint else 0
            self.truncate_side_logs(step)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def truncate_side_logs(self, step: int) -> None:
        """Drop side-log records after ``step``: the resumed run logs those steps again."""
        for name in SIDE_LOGS:
            path = os.path.join(self.args.output_dir, name)
            dropped = keep_records(path, lambda record: record.get("step", 0) <= step)
            if dropped:
                logger.info("%s: dropped %d records after step %d (the run resumes from there)", path, dropped, step)

    def _get_output_dir(self, trial) -> str:
        # while a checkpoint is saved, the Trainer writes run_dir/checkpoint-N into the staging folder
        return self._staging or super()._get_output_dir(trial)

    def _save_checkpoint(self, model, trial) -> None:
        """transformers' save into tmp-checkpoint-N/, then one rename to checkpoint-N once every rank is done."""
        run_dir = super()._get_output_dir(trial)
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staging, final = staging_dir(run_dir, self.state.global_step), os.path.join(run_dir, name)
        staged = os.path.join(staging, name)
        if self.args.local_process_index == 0:
            shutil.rmtree(staging, ignore_errors=True)  # leftovers of a killed save of this same step
        self.accelerator.wait_for_everyone()
        self._staging = staging
        try:
            super()._save_checkpoint(model, trial)  # every rank writes its part (ZeRO shards, RNG state)
        finally:
            self._staging = None
        best = self.state.best_model_checkpoint
        if best and os.path.normpath(best) == os.path.normpath(staged):  # the Trainer saw the staged path
            self.state.best_model_checkpoint = final
            if self.args.should_save:
                self.state.save_to_json(os.path.join(staged, TRAINER_STATE))
        self.accelerator.wait_for_everyone()  # all ranks' files are in the staged folder
        if self.args.process_index == 0:
            publish(staged, final)
        self.accelerator.wait_for_everyone()
        # nodes whose disk is not shared with rank 0 publish their own copy (on a shared disk it is gone)
        if self.args.local_process_index == 0 and self.args.process_index != 0 and os.path.isdir(staged):
            publish(staged, final)
        if self.args.should_save:
            rotate(run_dir, self.args.save_total_limit, (final, self.state.best_model_checkpoint),
                   self.args.save_only_model)

    def save_model(self, output_dir: Optional[str] = None, _internal_call: bool = False) -> None:
        output_dir = output_dir or self.args.output_dir
        if self.save_mode == "full":
            super().save_model(output_dir, _internal_call)
        elif self.save_mode == "adapters":
            state = gather_state(self.model, adapter_state_dict)  # collective under ZeRO-3
            if self.args.should_save:
                save_adapters(self.model, output_dir, state_dict=state)
        else:
            state = gather_state(self.model, _projector_state)
            if self.args.should_save:
                os.makedirs(output_dir, exist_ok=True)
                save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(output_dir, PROJECTOR_NAME))
        if self.args.should_save:
            # config + processor in every checkpoint, so each one loads for inference on its own
            self.model.config.save_pretrained(output_dir)
            if self.processing_class is not None:
                self.processing_class.save_pretrained(output_dir)
            write_run_info(output_dir, self.base_spec, self.save_mode, self.run_extra)
            torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        """Without DeepSpeed the Trainer reloads weights itself: teach it our adapter/projector files."""
        model = self.model if model is None else model
        if self.save_mode == "adapters":
            load_adapter_weights(model, resume_from_checkpoint)
        elif self.save_mode == "projector":
            load_projector(model, Path(resume_from_checkpoint) / PROJECTOR_NAME)
        else:
            super()._load_from_checkpoint(resume_from_checkpoint, model)
