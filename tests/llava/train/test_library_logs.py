"""bitsandbytes' optional-CPU-kernel line stays out of training logs; its other lines and QLoRA errors do not."""
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from llava.train.library_logs import BNB_CPU_OPS_LOGGER, quiet_known_library_lines

REPO = Path(__file__).resolve().parents[3]
KERNEL_LINE = "Failed to load CPU gemm_4bit_forward"

# Makes bitsandbytes take its AVX-512 BF16 branch on any CPU, with the `kernels` package missing: the import
# then logs the line exactly as on such a CPU (this machine's CPU alone would not print it).
AS_ON_AVX512_BF16 = textwrap.dedent("""
    import importlib.abc, importlib.machinery, sys

    sys.modules["kernels"] = None  # `from kernels import get_kernel` raises ImportError

    class AvxBf16(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "bitsandbytes.functional":
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                module.has_avx512bf16 = lambda: True

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, AvxBf16())
""")


def run_python(code):
    env = {k: v for k, v in os.environ.items() if k not in ("LLAVA_DEBUG", "RANK")}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, "-c", AS_ON_AVX512_BF16 + textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_bare_bitsandbytes_import_prints_the_line():
    # the control: without the project's filter the line is there, so the next test can fail
    result = run_python("import bitsandbytes")
    assert result.returncode == 0, result.stderr[-3000:]
    assert KERNEL_LINE in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="on CUDA --bits 4 passes the check and loads the model")
def test_training_log_has_no_kernel_line_and_a_bits4_error_still_shows(tmp_path):
    result = run_python(f"""
        import atexit, runpy, sys
        atexit.register(lambda: print("bitsandbytes imported:", "bitsandbytes.backends.cpu.ops" in sys.modules))
        sys.argv = ["train", "--model_name_or_path", {str(tmp_path / "m")!r}, "--data_path", "d.json",
                    "--output_dir", {str(tmp_path / "out")!r}, "--peft", "lora", "--bits", "4"]
        runpy.run_module("llava.train.train", run_name="__main__")
    """)
    assert "bitsandbytes imported: True" in result.stdout  # the line's source was imported on the way
    assert KERNEL_LINE not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        "error: --bits 4 (QLoRA) needs a CUDA GPU and bitsandbytes (pip install '.[gpu]'); "
        "on this machine train with --bits 16"]


def test_only_that_line_is_dropped(caplog):
    quiet_known_library_lines()
    quiet_known_library_lines()  # installing twice leaves one filter
    logger = logging.getLogger(BNB_CPU_OPS_LOGGER)
    assert len(logger.filters) == 1
    with caplog.at_level(logging.WARNING, logger=BNB_CPU_OPS_LOGGER):
        logger.warning("Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please ...", "No module")
        logger.warning("Failed to load CPU-only bitsandbytes library")  # a real problem: shown
        logging.getLogger("bitsandbytes.cextension").warning("Failed to load CPU gemm_4bit_forward elsewhere")
    assert [r.getMessage() for r in caplog.records] == [
        "Failed to load CPU-only bitsandbytes library", "Failed to load CPU gemm_4bit_forward elsewhere"]
