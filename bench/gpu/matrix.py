"""The training-step grid: for every attention implementation x activation checkpointing setting, every
variant's step time, peak memory and ratio over lora_kr, measured interleaved on one shared base model."""
from __future__ import annotations

import dataclasses
import time
import traceback
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import torch

from ..e2e import optimizer_step
from ..harness import interleaved
from ..timing import Sample, median, paired_ratio
from ..variants import REFERENCE
from .adapters import Adapter
from .environment import attn_unavailable
from .memory import fit_batch, free_memory, timed_step
from .model import make_inputs, set_activation_checkpointing, slice_inputs
from .results import PENDING, empty_cell, failure, finite
from .settings import ATTNS, DEFAULT_VARIANTS, GIB, GRAD_CKPT, Settings

# reason to stop before the next group (the time budget), or None to go on
StopCheck = Callable[[], Optional[str]]
# called after every group: (its name, e.g. "sdpa/ckpt_on", seconds it took)
GroupDone = Callable[[str, float], None]


@dataclass
class GroupResult:
    samples: Dict[str, List[Sample]]
    peaks: Dict[str, Optional[int]]  # adjusted: minus the other variants' resident bytes
    losses: Dict[str, float]


def measure_group(model, adapters: Dict[str, Adapter], inputs: Dict[str, torch.Tensor],
                  settings: Settings) -> GroupResult:
    """Warm-up rounds, then timed rounds; each round runs every variant once, the order rotating."""

    def variant_step(name: str) -> Callable[[], Sample]:
        adapter = adapters[name]

        def step() -> Sample:
            # bytes resident only because the other variants wait beside the model (counted before the step,
            # so states created by a late first step are included exactly when they exist)
            others = sum(a.resident_bytes() for n, a in adapters.items() if n != name) if settings.cuda else 0
            adapter.install(model)
            try:
                sample = timed_step(lambda: optimizer_step(model, adapter.optimizer, inputs), settings)
            finally:
                adapter.uninstall(model)
            peak = None if sample.peak_bytes is None else sample.peak_bytes - others
            return dataclasses.replace(sample, peak_bytes=peak)
        return step

    samples = interleaved({name: variant_step(name) for name in adapters}, settings.plan,
                          timer=lambda step, _calls: step())
    # one loss per variant, read after timing (reading it inside would add a sync to the step)
    losses: Dict[str, float] = {}
    for name, adapter in adapters.items():
        adapter.install(model)
        try:
            with torch.no_grad():
                losses[name] = float(model(**slice_inputs(inputs, 1), use_cache=False).loss)
        finally:
            adapter.uninstall(model)
    peaks = {name: max((s.peak_bytes for s in runs if s.peak_bytes is not None), default=None)
             for name, runs in samples.items()}
    return GroupResult(samples, peaks, losses)


def group_cells(result: GroupResult, batch: int, oom_batches: List[int], settings: Settings) -> Dict[str, dict]:
    cells = {}
    ref = result.samples.get(REFERENCE)
    for name, samples in result.samples.items():
        step_s = median(s.wall_s for s in samples)
        cell = empty_cell(None)
        cell.update(
            batch=batch,
            step_ms=finite(1000.0 * step_s),
            tokens_per_s=finite(batch * settings.seq_len / step_s) if step_s > 0 else None,
            peak_gib=None if result.peaks[name] is None else result.peaks[name] / GIB,
            over_lora_kr=finite(paired_ratio(samples, ref)) if ref else None,
            oom_batches=list(oom_batches),
            loss=finite(result.losses.get(name, float("nan"))),
        )
        cells[name] = cell
    return cells


def plan_cells(settings: Settings) -> Tuple[dict, Dict[str, Optional[str]]]:
    """train[attn]["ckpt_on"|"ckpt_off"][variant] for every attention, setting and variant: the requested
    cells pending, the others with the reason they are not measured; and each attention's reason (or None)."""
    all_variants = list(dict.fromkeys(list(DEFAULT_VARIANTS) + settings.variants))
    all_attns = list(dict.fromkeys(list(ATTNS) + settings.attns))
    train: dict = {}
    skipped_attn: Dict[str, Optional[str]] = {}
    for attn in all_attns:
        reason = attn_unavailable(attn, settings) or (None if attn in settings.attns else "not requested (--attn)")
        skipped_attn[attn] = reason
        train[attn] = {}
        for ckpt in GRAD_CKPT:
            ckpt_reason = reason or (None if ckpt in settings.grad_ckpts else "not requested (--grad-ckpt)")
            train[attn][f"ckpt_{ckpt}"] = {
                v: empty_cell(ckpt_reason or (PENDING if v in settings.variants else "not requested (--variants)"))
                for v in all_variants
            }
    return train, skipped_attn


def _settle(cells: Dict[str, dict], variants: List[str], reason: str) -> None:
    """Give the still-pending cells of `variants` their reason."""
    for v in variants:
        if cells[v]["skipped"] == PENDING:
            cells[v]["skipped"] = reason


def run_train_matrix(model, config, settings: Settings, train: dict, skipped_attn: Dict[str, Optional[str]],
                     *, stop: StopCheck = lambda: None, done: GroupDone = lambda name, s: None) -> None:
    """Measure every pending cell of plan_cells' `train` in place (model: the shared base); `done` after each
    (attention, checkpointing) group; once `stop` gives a reason, the groups left get it instead."""
    log = settings.log
    runnable = [a for a in settings.attns if skipped_attn[a] is None]
    for attn in settings.attns:
        if skipped_attn[attn]:
            log(f"attention {attn}: skipped: {skipped_attn[attn]}")
    if not runnable:
        return

    full_inputs = make_inputs(config, settings.batch, settings.seq_len, settings)
    log(f"building adapters for {', '.join(settings.variants)} (k={settings.k}, r={settings.r}, FFN only)")
    adapters = {v: Adapter(model, v, settings) for v in settings.variants}

    def cleanup() -> None:
        for a in adapters.values():
            a.zero_grad()
            a.uninstall(model)
        free_memory(settings.device)

    for attn in runnable:
        reason = stop()
        if reason:
            for cells in train[attn].values():
                _settle(cells, settings.variants, reason)
            continue
        try:
            model.set_attn_implementation(attn)
        except Exception as err:  # noqa: BLE001 - reported in the table and JSON, the rest goes on
            skipped_attn[attn] = f"set_attn_implementation({attn!r}) failed: {err}"
            log(f"attention {attn}: skipped: {skipped_attn[attn]}")
            for cells in train[attn].values():
                _settle(cells, settings.variants, skipped_attn[attn])
            continue
        for ckpt in settings.grad_ckpts:
            cells = train[attn][f"ckpt_{ckpt}"]
            reason = stop()
            if reason:
                _settle(cells, settings.variants, reason)
                log(f"attention {attn}, activation checkpointing {ckpt}: {reason}")
                continue
            start = time.perf_counter()
            set_activation_checkpointing(model, ckpt == "on")
            log(f"attention {attn}, activation checkpointing {ckpt}: batch {settings.batch} x {settings.seq_len} "
                f"tokens, {settings.warmup} warm-up + {settings.steps} timed rounds")
            try:
                fit = fit_batch(lambda b: measure_group(model, adapters, slice_inputs(full_inputs, b), settings),
                                settings.batch, cleanup=cleanup, log=log)
            except Exception as err:  # noqa: BLE001 - one failed group must not lose the others' results
                log(f"    {attn} {ckpt}: {failure(err)}\n{traceback.format_exc()}")
                _settle(cells, settings.variants, failure(err))
                fit = None
            if fit is not None and fit.batch is None:
                for v in settings.variants:
                    cells[v].update(oom_batches=fit.oom_batches, skipped="out of memory even at batch 1")
            elif fit is not None:
                cells.update(group_cells(fit.value, fit.batch, fit.oom_batches, settings))
            cleanup()
            done(f"{attn}/ckpt_{ckpt}", time.perf_counter() - start)
    set_activation_checkpointing(model, False)
    for a in adapters.values():
        a.uninstall(model)
    adapters.clear()
    free_memory(settings.device)


def flat_ratios(train: dict) -> Dict[str, Optional[float]]:
    out = {}
    for attn, by_ckpt in train.items():
        for ckpt, cells in by_ckpt.items():
            for variant, cell in cells.items():
                if variant != REFERENCE:
                    out[f"{attn}_{ckpt}_{variant}_over_{REFERENCE}"] = cell["over_lora_kr"]
    return out
