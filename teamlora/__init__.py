"""TeamLoRA: mixture-of-LoRA-experts adapters (shared A, split B, Shapley router + interaction matrix),
with LoRA, MoELoRA and HydraLoRA baselines behind the same config. Depends on torch and safetensors only."""
from .accounting import ParameterCount, count_parameters
from .config import METHODS, VARIANTS, TeamLoraConfig
from .errors import AdapterConfigError, AdapterLoadError, MergeError, TargetNotFoundError, TeamLoraError
from .layer import TeamLoraLinear
from .model import (
    adapted_layers,
    adapter_state_dict,
    add_adapters,
    get_config,
    has_adapters,
    merge_adapters,
    merge_and_unload,
    remove_adapters,
    set_adapters_enabled,
    trainable_parameter_names,
    unmerge_adapters,
)
from .serialization import load_adapter_weights, load_adapters, read_adapter_config, save_adapters
from .stats import ExpertStats, adapter_stats, expert_cv, balance_loss, reset_adapter_stats, set_stats_tracking, summarize_stats

__all__ = [
    "METHODS", "VARIANTS", "TeamLoraConfig", "TeamLoraLinear", "add_adapters", "save_adapters", "load_adapters",
    "adapter_stats", "reset_adapter_stats", "set_stats_tracking", "summarize_stats", "ExpertStats",
    "balance_loss", "expert_cv", "adapted_layers", "adapter_state_dict", "get_config", "has_adapters",
    "merge_adapters",
    "unmerge_adapters", "merge_and_unload", "remove_adapters", "set_adapters_enabled",
    "trainable_parameter_names", "count_parameters", "ParameterCount", "read_adapter_config",
    "load_adapter_weights",
    "TeamLoraError", "AdapterConfigError", "AdapterLoadError", "MergeError", "TargetNotFoundError",
]
