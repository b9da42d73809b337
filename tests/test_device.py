"""gpt2_lib.device decides, per kind of device, the dtype to train in, fused AdamW and torch.compile.

MPS (Apple silicon) cannot run here, so its branches are forced on this CPU: MPS made to look available, CUDA
made absent, and every CUDA-only function the library calls made to fail if it is reached. GPUs without bf16
(Colab's T4) are faked the same way, on the CPU for the decision and on a real GPU for a few training steps.
"""

from __future__ import annotations

import contextlib
import platform
import warnings

import numpy as np
import pytest
import torch

import gpt2_lib.device as device
from gpt2_lib.device import (autocast_dtype, bf16_supported, can_compile, compiled, describe_machine, pick_device,
                             supports_fused_adamw)
from gpt2_lib.model import GPT, GPTConfig, configure_optimizers
from gpt2_lib.checkpoint import _rng_state, _set_rng_state
from gpt2_lib.train import TrainConfig, _autocast, train

SMALL = GPTConfig(vocab_size=97, block_size=16, n_layer=2, n_head=2, n_embd=32)
# every CUDA-only function the library and the chapters call (gpt2_lib/*.py, notebooks/*.ipynb)
CUDA_ONLY = ["is_bf16_supported", "get_device_name", "current_device", "device_count", "set_device",
             "get_rng_state_all", "set_rng_state_all", "synchronize", "Stream", "current_stream", "stream",
             "CUDAGraph", "graph", "is_current_stream_capturing", "reset_peak_memory_stats", "memory_allocated",
             "max_memory_allocated", "Event"]


@pytest.fixture(autouse=True)
def said_nothing_yet(monkeypatch):
    """Each test starts as a fresh process would: no fallback announced yet."""
    monkeypatch.setattr(device, "_said", set())


@pytest.fixture
def a_mac(monkeypatch):
    """This CPU made to look like an Apple-silicon Mac on macOS 15: MPS available, no CUDA, no CUDA call allowed."""
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(platform, "mac_ver", lambda: ("15.1", ("", "", ""), "arm64"))
    for name in CUDA_ONLY:
        def reached(*args, name=name, **kwargs):
            raise AssertionError(f"torch.cuda.{name} was called on the MPS path")
        monkeypatch.setattr(torch.cuda, name, reached)
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda *a, **k: pytest.fail("pin_memory on the MPS path"))


def _said(record) -> list[str]:
    return [str(w.message) for w in record]


def test_a_mac_gets_mps_and_trains_in_float32_with_fused_adamw_and_no_compile(a_mac):
    assert pick_device() == torch.device("mps"), "cuda > mps > cpu: on a Mac, auto must pick mps"
    assert autocast_dtype("mps") == torch.float32, "auto on MPS must train in float32 (no fp16 scaler before 2.8)"
    assert supports_fused_adamw("mps") is True, "torch >= 2.4 has a fused AdamW kernel for MPS"
    assert can_compile("mps") is False, "the book does not torch.compile for MPS"
    assert "MPS" in describe_machine(torch.device("mps")) and "15.1" in describe_machine(torch.device("mps"))


def test_fused_adamw_on_mps_needs_torch_2_4(monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.3.1")
    assert supports_fused_adamw("mps") is False, "torch 2.3 has no fused AdamW for MPS"
    assert supports_fused_adamw("cuda") is True and supports_fused_adamw("cpu") is False


def test_training_on_a_mac_runs_plain_fp32_without_autocast_and_reaches_no_cuda_call(a_mac):
    context, needs_scaler = _autocast(TrainConfig(), torch.device("mps"))
    assert isinstance(context, contextlib.nullcontext) and not needs_scaler, "fp32 on MPS: no autocast, no scaler"
    optimizer = configure_optimizers(GPT(SMALL), 0.1, 1e-3, device_type="mps")
    assert optimizer.defaults["fused"] is True, "configure_optimizers must ask supports_fused_adamw for MPS"
    assert configure_optimizers(GPT(SMALL), 0.1, 1e-3, device_type="cpu").defaults["fused"] is None


def test_checkpoints_on_a_mac_save_and_restore_the_mps_generator(a_mac, monkeypatch):
    mps_state = {"now": torch.tensor([1, 2, 3], dtype=torch.uint8)}
    monkeypatch.setattr(torch.mps, "get_rng_state", lambda: mps_state["now"].clone())
    monkeypatch.setattr(torch.mps, "set_rng_state", lambda state: mps_state.update(now=state))
    state, tensors = _rng_state(torch.device("mps"))
    assert torch.equal(tensors.get("rng/mps", torch.empty(0)), torch.tensor([1, 2, 3], dtype=torch.uint8)), \
        f"the MPS generator (dropout's masks on a Mac) must be saved with a checkpoint; saved: {sorted(tensors)}"
    mps_state["now"] = torch.tensor([9], dtype=torch.uint8)  # training went on
    _set_rng_state(state, tensors, torch.device("mps"))
    assert mps_state["now"].tolist() == [1, 2, 3], "resuming on a Mac must restore the MPS generator"


def test_compile_on_a_mac_falls_back_to_the_plain_model_and_says_so_once(a_mac):
    model = GPT(SMALL)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert compiled(model, "mps") is model and compiled(model, "mps") is model
    assert len(_said(record)) == 1 and "torch.compile for mps" in _said(record)[0], _said(record)


def test_bf16_on_a_mac_needs_macos_14(monkeypatch):
    monkeypatch.setattr(platform, "mac_ver", lambda: ("13.6.1", ("", "", ""), "arm64"))
    assert bf16_supported("mps") is False
    with pytest.raises(ValueError, match="macOS 14"):
        autocast_dtype("mps", "bf16")
    monkeypatch.setattr(platform, "mac_ver", lambda: ("14.0", ("", "", ""), "arm64"))
    assert bf16_supported("mps") is True and autocast_dtype("mps", "bf16") == torch.bfloat16


@pytest.mark.parametrize("device_type", ["mps", "cpu"])
def test_fp16_is_refused_off_cuda_with_what_to_use(device_type):
    with pytest.raises(ValueError, match=f"fp16 needs a CUDA GPU .* on {device_type} use fp32 or bf16"):
        autocast_dtype(device_type, "fp16")


def test_cpu_trains_in_float32_and_compiles_without_triton(monkeypatch):
    monkeypatch.setattr(device, "has_triton", lambda: False)
    assert autocast_dtype("cpu") == torch.float32 and autocast_dtype("cpu", "bf16") == torch.bfloat16
    assert can_compile("cpu") is True, "inductor compiles C++ for CPUs: no Triton needed"
    assert can_compile("cuda") is False, "inductor's GPU kernels are Triton: without it, no compile on CUDA"


def test_a_gpu_without_bf16_trains_in_fp16_and_says_so_once(monkeypatch):
    monkeypatch.setattr(device, "bf16_supported", lambda device_type: device_type != "cuda")  # a T4
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert autocast_dtype("cuda") == torch.float16 and autocast_dtype(torch.device("cuda")) == torch.float16
    assert len(_said(record)) == 1 and "float16 with a gradient scaler" in _said(record)[0], _said(record)
    with pytest.raises(ValueError, match="no bfloat16 .* use --dtype fp16 or auto"):
        autocast_dtype("cuda", "bf16")
    monkeypatch.setattr(device, "bf16_supported", lambda device_type: True)  # an A100 or newer
    assert autocast_dtype("cuda") == torch.bfloat16


def test_the_train_loop_takes_its_dtype_from_the_device_helper(monkeypatch):
    monkeypatch.setattr(device, "bf16_supported", lambda device_type: device_type != "cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        context, needs_scaler = _autocast(TrainConfig(), torch.device("cuda"))
    assert isinstance(context, torch.autocast) and context.fast_dtype == torch.float16 and needs_scaler, \
        "without bf16, train() must autocast to fp16 and use a gradient scaler"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_made_to_lack_bf16_trains_in_fp16_with_a_scaler_and_the_loss_falls(monkeypatch):
    monkeypatch.setattr(device, "bf16_supported", lambda device_type: device_type != "cuda")  # as on a T4
    scalers = []

    class Recorded(torch.amp.GradScaler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            scalers.append(self)

    monkeypatch.setattr(torch.amp, "GradScaler", Recorded)
    ids = np.tile(np.arange(40, dtype=np.uint16), 50)
    cfg = TrainConfig(max_steps=30, batch_size=8, eval_every=30, eval_batches=2, learning_rate=3e-3, device="cuda",
                      progress=False)
    torch.manual_seed(0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        history = train(GPT(SMALL), cfg, ids, ids)
    assert [m for m in _said(record) if "no bfloat16" in m] == [
        "this GPU has no bfloat16 (e.g. Colab's T4): training in float16 with a gradient scaler"], _said(record)
    assert len(scalers) == 1 and scalers[0].get_scale() > 0, "auto without bf16 must train with a GradScaler"
    losses = [r["train_loss"] for r in history if "train_loss" in r]
    assert all(np.isfinite(losses)), f"non-finite fp16 loss: {losses}"
    assert history[-1]["val_loss"] < history[0]["val_loss"] - 1, f"the fp16 loss did not fall: {losses}"
