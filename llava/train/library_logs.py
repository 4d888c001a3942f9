"""One known line that a library prints into every training log without saying anything about the run,
and the filter that keeps it out.

transformers' Trainer imports peft, and peft imports bitsandbytes whenever it is installed. On a CPU with
AVX-512 BF16, bitsandbytes' import tries to fetch an optional fused 4-bit CPU kernel through the `kernels`
package and, when that is missing, logs "Failed to load CPU gemm_4bit_forward from kernels-community: ..."
and keeps its own CPU kernel. Training never multiplies 4-bit weights on the CPU (--bits 4/8 needs CUDA),
so the line is noise in every log. Only that message is dropped, at the logger that emits it: any other
bitsandbytes line (a CUDA library that does not load, a quantisation that fails) still shows, and QLoRA's
own errors are raised, not logged.
"""
from __future__ import annotations

import logging

BNB_CPU_OPS_LOGGER = "bitsandbytes.backends.cpu.ops"
BNB_OPTIONAL_KERNEL_LINE = "Failed to load CPU gemm_4bit_forward"


class DropLinesStartingWith(logging.Filter):
    """Drops the records whose message (before %-formatting) starts with ``prefix``."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def quiet_known_library_lines() -> None:
    """Install the filter (once, however often called). It must run before bitsandbytes is imported:
    the line is logged at its import."""
    logger = logging.getLogger(BNB_CPU_OPS_LOGGER)  # the same object bitsandbytes' getLogger(__name__) returns
    if not any(isinstance(f, DropLinesStartingWith) and f.prefix == BNB_OPTIONAL_KERNEL_LINE for f in logger.filters):
        logger.addFilter(DropLinesStartingWith(BNB_OPTIONAL_KERNEL_LINE))
