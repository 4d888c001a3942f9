"""Gather partitioned parameters before saving (ZeRO-3 keeps only a shard of each parameter per rank)."""
from __future__ import annotations

from typing import Callable, Dict

import torch
from torch import nn


def gather_state(model: nn.Module, select: Callable[[nn.Module], Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Full CPU copies of the tensors `select(model)` returns, gathered across ranks when partitioned.

    Every rank must call this (under ZeRO-3 the gather is a collective). `select` maps the model to
    {parameter name: tensor} (e.g. teamlora.adapter_state_dict); it runs inside the gather, so it sees
    full tensors. Only the selected parameters are gathered: adapters are a few % of a 7B model.
    """
    names = set(select(model))
    partitioned = [p for n, p in model.named_parameters() if n in names and hasattr(p, "ds_id")]
    if not partitioned:
        return {k: v.detach().cpu().clone() for k, v in select(model).items()}
    import deepspeed

    with deepspeed.zero.GatheredParameters(partitioned, modifier_rank=None):
        return {k: v.detach().cpu().clone() for k, v in select(model).items()}
