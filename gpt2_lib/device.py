"""Pick the device and the low-precision dtype a chapter should use on this machine."""

from __future__ import annotations

import torch


def pick_device(prefer: str = "auto") -> torch.device:
    """The fastest device present, in the order cuda > mps > cpu; or the one asked for."""
    if prefer != "auto":
        try:
            device = torch.device(prefer)
        except RuntimeError:  # torch's own message lists every device type it knows, most of which we cannot use
            raise ValueError(f"unknown device {prefer!r}: use auto, cuda, cuda:N, mps or cpu") from None
        if device.type not in ("cuda", "mps", "cpu"):
            raise ValueError(f"device {prefer!r} cannot compute here (a meta tensor has a shape but no values): use "
                             "auto, cuda, cuda:N, mps or cpu")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but no CUDA GPU is visible; use --device auto or cpu")
        if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
            raise ValueError(f"device {prefer!r} was asked for but only {torch.cuda.device_count()} CUDA GPU(s) are "
                             f"visible: cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError("device 'mps' was asked for but Apple's MPS backend is not available; use auto or cpu")
        if device.type in ("cpu", "mps") and device.index not in (None, 0):
            raise ValueError(f"device {prefer!r}: there is one {device.type} device, not several; use {device.type}")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_dtype(device: torch.device) -> torch.dtype:
    """bf16 where the hardware has it; fp16 on older GPUs such as Colab's T4 (which need a grad scaler); fp32 on CPU."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


def describe_machine(device: torch.device | None = None) -> str:
    """One line naming the hardware a measurement ran on (CPU model and cores, or the GPU)."""
    import os
    import platform

    if device is not None and device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}, torch {torch.__version__})"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads (torch {torch.__version__})"
