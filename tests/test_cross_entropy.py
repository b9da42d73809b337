"""Chapter 10's Triton cross-entropy gives F.cross_entropy's loss and gradient; without a GPU it runs in Triton's
interpreter, in a child process, because TRITON_INTERPRET must be set before Triton compiles the kernels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent

CHECKS = r"""
import math
import torch
import torch.nn.functional as F
from gpt2_lib.cross_entropy import fused_cross_entropy

dev = "cuda" if torch.cuda.is_available() else "cpu"
torch.manual_seed(0)
# vocabularies below, at and above the kernel's block of 2,048; rows with every kind of target
for N, V in ((5, 7), (33, 2048), (17, 4100)):
    for dtype, tol in ((torch.float32, 2e-6), (torch.bfloat16, 1e-2)):
        logits = (4 * torch.randn(N, V, device=dev)).to(dtype).requires_grad_()
        targets = torch.randint(0, V, (N,), device=dev)
        targets[0], targets[-1] = -100, V - 1
        upstream = torch.tensor(2.5, device=dev)  # backward with an upstream gradient other than 1
        (fused_cross_entropy(logits, targets) * upstream).backward()
        ours, grad = fused_cross_entropy(logits.detach(), targets), logits.grad.float()
        logits.grad = None
        ref = F.cross_entropy(logits.float(), targets, ignore_index=-100)
        (ref * upstream).backward()
        assert abs(ours.item() - ref.item()) <= 1e-5 * abs(ref.item()), (N, V, dtype, ours.item(), ref.item())
        err = (grad - logits.grad.float()).abs().max().item()
        assert err <= tol * logits.grad.float().abs().max().item(), (N, V, dtype, err)
        assert grad[0].abs().max().item() == 0.0, "an ignored row must get no gradient"

logits = torch.randn(4, 10, device=dev)
assert math.isnan(fused_cross_entropy(logits, torch.full((4,), -100, device=dev)).item()), "all ignored: nan, as PyTorch"
assert math.isnan(fused_cross_entropy(logits, torch.tensor([1, 2, 10, 3], device=dev)).item()), "target >= V: nan"
try:
    fused_cross_entropy(logits[None], torch.zeros(1, 4, dtype=torch.long, device=dev))
except ValueError as e:
    assert "view(-1, V)" in str(e)
else:
    raise AssertionError("3-D logits must be refused")
print("ok")
"""


def test_fused_cross_entropy_equals_pytorch_in_loss_and_gradient():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if not torch.cuda.is_available():
        env["TRITON_INTERPRET"] = "1"  # Triton's interpreter: the same kernels, executed with NumPy on the CPU
    proc = subprocess.run([sys.executable, "-c", CHECKS], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="the compiled model with the fused loss needs a CUDA GPU")
def test_compiled_gpt_trains_with_the_fused_loss_as_with_pytorchs():
    from gpt2_lib.model import GPT, GPTConfig
    from gpt2_lib.speed import speed_up

    torch.manual_seed(0)
    fused = speed_up(GPT(GPTConfig.from_name("tiny", vocab_size=512)), bf16_residual=False).cuda()
    plain = GPT(fused.config).cuda()
    plain.load_state_dict(fused.state_dict())
    x = torch.randint(0, 512, (4, 65), device="cuda")
    losses = []
    for model in (fused, plain):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            _, loss = torch.compile(model)(x[:, :-1], x[:, 1:])
        loss.backward()
        losses.append(loss.item())
    assert abs(losses[0] - losses[1]) < 1e-3, losses
    for (name, p), q in zip(fused.named_parameters(), plain.parameters()):  # bf16 rounding differs between the graphs
        err = (p.grad.float() - q.grad.float()).norm() / q.grad.float().norm()
        assert err < 0.02, f"{name}: gradients differ by {err:.1%}"
