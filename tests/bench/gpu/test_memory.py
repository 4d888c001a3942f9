"""bench.gpu.memory: the out-of-memory back-off halves the batch until it fits; other errors propagate."""
import pytest
import torch

from bench.gpu import memory


def test_oom_back_off_halves_until_it_fits():
    calls, cleanups, messages = [], [], []

    def step(batch):
        calls.append(batch)
        if batch > 4:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {batch} GiB")
        return f"ran at {batch}"

    fit = memory.fit_batch(step, 16, cleanup=lambda: cleanups.append(1), log=messages.append)
    assert (fit.batch, fit.value, fit.oom_batches) == (4, "ran at 4", [16, 8])
    assert calls == [16, 8, 4] and len(cleanups) == 2 and len(messages) == 2

    def always_oom(batch):
        raise torch.OutOfMemoryError("out of memory")

    never = memory.fit_batch(always_oom, 5, log=lambda m: None)
    assert never.batch is None and never.oom_batches == [5, 2, 1]

    # allocator failures raised as a plain RuntimeError count too; any other error propagates at once
    assert memory.is_oom(RuntimeError("CUDA error: out of memory"))
    def broken(batch):
        raise ValueError("shape mismatch")

    with pytest.raises(ValueError):
        memory.fit_batch(broken, 8, log=lambda m: None)
