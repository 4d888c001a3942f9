"""LlavaTrainer: transformers' Trainer plus what LLaVA + TeamLoRA training needs.

- a separate learning rate for the projector (--mm_projector_lr),
- the modality-length grouped batch sampler (--group_by_modality_length),
- expert-utilisation statistics in every log line, and the optional balance loss,
- checkpoints that always load for inference (adapters + projector + config + processor) and resume.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import torch
from torch.utils.data import DataLoader
from transformers import Trainer

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

from .plots import EXPERT_STATS_FILE
from .zero import gather_state


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
