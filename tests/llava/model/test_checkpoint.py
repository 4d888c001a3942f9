"""llava.model.checkpoint.pick_device_dtype: what "auto" resolves to for model_vqa and the chat."""
import pytest
import torch

from llava.model.checkpoint import pick_device_dtype


def test_cpu_auto_is_float32_and_explicit_values_are_kept():
    assert pick_device_dtype("cpu", "auto") == (torch.device("cpu"), torch.float32)
    assert pick_device_dtype("cpu", "bfloat16") == (torch.device("cpu"), torch.bfloat16)
    assert pick_device_dtype("cuda:1", "float16") == (torch.device("cuda", 1), torch.float16)


def test_auto_device_follows_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device_dtype("auto", "auto") == (torch.device("cpu"), torch.float32)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for bf16, dtype in ((True, torch.bfloat16), (False, torch.float16)):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda bf16=bf16: bf16)
        assert pick_device_dtype("auto", "auto") == (torch.device("cuda"), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_every_dtype_choice_names_a_torch_dtype(dtype):
    assert pick_device_dtype("cpu", dtype)[1] is getattr(torch, dtype)
