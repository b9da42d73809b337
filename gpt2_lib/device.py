"""Pick the device, and decide what this machine can do on it: the dtype to train in, fused AdamW, torch.compile.

Each decision is one function of the device type ("cuda", "mps" or "cpu"), so the choices made for a GPU or a
Mac can be tested on any CPU by passing that type. Apple's MPS is designed for but not tested here: the table in
book/setup.md lists what MPS lacks and what each function does about it.
"""

from __future__ import annotations

import importlib.util
import platform
import warnings

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}  # --dtype's choices besides auto


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


def has_triton() -> bool:
    """Whether Triton is installed: torch.compile's GPU kernels and chapter 10's loss need it (no macOS/Windows wheel)."""
    return importlib.util.find_spec("triton") is not None


def bf16_supported(device_type: str) -> bool:
    """Whether this machine computes in bfloat16 on that kind of device."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()  # Ampere and newer; not Colab's T4
    if device_type == "mps":
        return _macos_version() >= (14, 0)  # Metal has bfloat16 from macOS 14 (Sonoma)
    return True  # every CPU: emulated where it lacks bf16 instructions, so slower there (chapter 10)


def autocast_dtype(device: torch.device | str, requested: str = "auto") -> torch.dtype:
    """The dtype training's forward pass computes in, for --dtype `requested` (auto, bf16, fp16 or fp32).

    auto: bf16 on CUDA GPUs that have it; fp16 on those without (Colab's T4), which trains with a gradient scaler
    and is said once; fp32 on CPUs (bf16 is slower on most) and on Macs (MPS has a gradient scaler only from
    torch 2.8, and M1/M2 emulate bf16). A choice this machine cannot train in is a ValueError saying what to use.
    """
    device_type = torch.device(device).type
    if requested == "auto":
        if device_type != "cuda":
            return torch.float32
        if bf16_supported("cuda"):
            return torch.bfloat16
        _say_once("this GPU has no bfloat16 (e.g. Colab's T4): training in float16 with a gradient scaler")
        return torch.float16
    if requested not in DTYPES:
        raise ValueError(f"dtype must be auto, bf16, fp16 or fp32, got {requested!r}")
    dtype = DTYPES[requested]
    if dtype == torch.float16 and device_type != "cuda":
        raise ValueError(f"dtype fp16 needs a CUDA GPU (it trains with a gradient scaler); on {device_type} use "
                         "fp32 or bf16")
    if dtype == torch.bfloat16 and not bf16_supported(device_type):
        raise ValueError("this GPU has no bfloat16 (e.g. a T4): use --dtype fp16 or auto" if device_type == "cuda"
                         else "bfloat16 on a Mac needs macOS 14 or newer: use --dtype fp32 or auto")
    return dtype


def supports_fused_adamw(device_type: str) -> bool:
    """Whether AdamW(fused=True) should update the weights: one kernel for all of them on CUDA, and on MPS
    from torch 2.4; not on CPUs, where it gains little (chapter 10) and the book's stored numbers come from."""
    if device_type == "mps":
        return torch.torch_version.TorchVersion(torch.__version__) >= "2.4"
    return device_type == "cuda"


def can_compile(device_type: str) -> bool:
    """Whether torch.compile can compile for that kind of device here: on CUDA it generates Triton kernels;
    on CPUs C++; for MPS its Metal code generator is a prototype, so the book does not use it there."""
    if device_type == "cuda":
        return has_triton()
    return device_type == "cpu"


def compiled(model: torch.nn.Module, device_type: str) -> torch.nn.Module:
    """torch.compile(model) where can_compile says so; elsewhere the model as it is, said once."""
    if can_compile(device_type):
        return torch.compile(model)
    why = "it needs Triton, which is not installed" if device_type == "cuda" else "the book does not compile there"
    _say_once(f"torch.compile for {device_type}: {why}; running the model uncompiled")
    return model


_said: set[str] = set()


def _say_once(message: str) -> None:
    """Warn about a fallback the first time only: once per process, not at every step."""
    if message not in _said:
        _said.add(message)
        warnings.warn(message, stacklevel=3)


def _macos_version() -> tuple[int, int]:
    """(major, minor) of macOS, or (0, 0) on any other system."""
    release = platform.mac_ver()[0]
    if not release:
        return (0, 0)
    major, _, rest = release.partition(".")
    return int(major), int(rest.partition(".")[0] or 0)


def describe_machine(device: torch.device | None = None) -> str:
    """One line naming the hardware a measurement ran on (CPU model and cores, or the GPU)."""
    import os

    if device is not None and device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}, torch {torch.__version__})"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    if device is not None and device.type == "mps":
        return f"{cpu} with Apple's MPS GPU (macOS {platform.mac_ver()[0]}, torch {torch.__version__})"
    return f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads (torch {torch.__version__})"
