"""Error types of the adapter library. Each message names the module, file or field at fault."""


class TeamLoraError(ValueError):
    """Base class: every error this library raises on bad input."""


class AdapterConfigError(TeamLoraError):
    """A TeamLoraConfig field is invalid."""


class TargetNotFoundError(TeamLoraError):
    """target_modules / modules_to_save matched nothing (or matched a non-Linear module)."""


class AdapterLoadError(TeamLoraError):
    """A saved adapter does not fit the model it is loaded into."""


class MergeError(TeamLoraError):
    """An adapter that cannot be folded into the base weight was asked to merge."""
