"""Which modules of a model get adapters, and which are trained fully (modules_to_save)."""
from __future__ import annotations

import re
from typing import Iterable, List, Optional, Sequence, Union

from torch import nn

from .errors import TargetNotFoundError


def in_scope(name: str, scope: Optional[str]) -> bool:
    """True when `scope` is one of the dotted path components of `name` (or a dotted prefix path)."""
    if scope is None:
        return True
    return f".{scope}." in f".{name}."


def name_matches(name: str, targets: Union[Sequence[str], str]) -> bool:
    """A regex string must fullmatch the name; a list entry must equal the name or be its dotted suffix."""
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


def _summarise(names: Iterable[str], limit: int = 12) -> str:
    names = list(names)
    leaves = sorted({n.rsplit(".", 1)[-1] for n in names})
    examples = ", ".join(names[:limit]) + (" ..." if len(names) > limit else "")
    return f"{len(names)} Linear modules, leaf names {leaves}; e.g. {examples}"


def find_target_linears(
    model: nn.Module, targets: Union[Sequence[str], str], scope: Optional[str]
) -> List[str]:
    """Names of the nn.Linear modules to adapt. Raises TargetNotFoundError naming what exists."""
    linears, non_linear_hits = [], []
    for name, module in model.named_modules():
        if not name or not in_scope(name, scope):
            continue
        if name_matches(name, targets):
            (linears if isinstance(module, nn.Linear) else non_linear_hits).append(name)
    if non_linear_hits:
        raise TargetNotFoundError(
            f"target_modules={targets!r} matched modules that are not nn.Linear: {non_linear_hits[:8]}"
            + (" ..." if len(non_linear_hits) > 8 else "")
        )
    if not linears:
        existing = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and in_scope(n, scope)]
        where = f" inside scope {scope!r}" if scope else ""
        if scope and not existing:
            raise TargetNotFoundError(f"modules_scope={scope!r} names no sub-module that holds Linear layers")
        raise TargetNotFoundError(
            f"target_modules={targets!r} matched no nn.Linear{where}. The model has {_summarise(existing)}"
        )
    return linears


def find_modules_to_save(model: nn.Module, names: Sequence[str]) -> List[str]:
    """Module names for modules_to_save (equal or dotted-suffix match). Each entry must match something."""
    found, missing = [], []
    all_names = [n for n, _ in model.named_modules() if n]
    for wanted in names:
        hits = [n for n in all_names if n == wanted or n.endswith("." + wanted)]
        # keep only outermost hits: a match inside another match is already covered
        hits = [h for h in hits if not any(h != o and h.startswith(o + ".") for o in hits)]
        (found.extend(hits) if hits else missing.append(wanted))
    if missing:
        top = sorted({n.split(".")[0] for n in all_names})
        raise TargetNotFoundError(f"modules_to_save {missing} matched no module; top-level modules: {top}")
    return sorted(set(found))
