"""Without Triton (macOS and Windows have no wheel) gpt2_lib works and the chapters that use it run to the end.

tests/no_triton/sitecustomize.py makes Triton look uninstalled in every Python process started with that folder
first on PYTHONPATH, the chapters' Jupyter kernels included; CI installs Triton, so this is how it sees a laptop.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from conftest import NOTEBOOKS, ROOT

BLOCKER = ROOT / "tests" / "no_triton"
# what a chapter must do for Triton's absence to matter: use chapter 10's kernel, torch.compile, or Triton itself
USES_TRITON = re.compile(r"gpt2_lib\.cross_entropy|torch\.compile\(|import triton")


def _without_triton(args: list[str], cwd=ROOT, timeout: int = 1800) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(BLOCKER), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("TRITON_INTERPRET", None)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def chapters_using_triton() -> list:
    """The chapters whose code cells use the fused loss, torch.compile or Triton (found by grep, so new ones join)."""
    def code(path):
        return "\n".join("".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
                         if c["cell_type"] == "code")
    return [path for path in NOTEBOOKS if USES_TRITON.search(code(path))]


def test_gpt2_lib_imports_trains_and_explains_the_kernel_without_triton():
    check = r"""
import importlib.util
assert importlib.util.find_spec("triton") is None, "the blocker must hide Triton"
try:
    import triton
    raise SystemExit("the blocker must make `import triton` fail")
except ModuleNotFoundError:
    pass
import torch
from gpt2_lib import cross_entropy
from gpt2_lib.device import can_compile
from gpt2_lib.model import GPT, GPTConfig
assert not cross_entropy.HAS_TRITON and not can_compile("cuda") and can_compile("cpu")
try:
    cross_entropy.fused_cross_entropy(torch.zeros(2, 8), torch.zeros(2, dtype=torch.long))
    raise SystemExit("fused_cross_entropy ran without Triton")
except ModuleNotFoundError as e:
    assert str(e) == cross_entropy.TRITON_NEEDED, str(e)
model = GPT(GPTConfig(vocab_size=64, block_size=8, n_layer=1, n_head=2, n_embd=16))
_, loss = model(torch.zeros(2, 8, dtype=torch.long), torch.ones(2, 8, dtype=torch.long))
loss.backward()
print("ok")
"""
    result = _without_triton(["-c", check])
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout + result.stderr


def test_chapters_that_use_triton_or_compile_run_to_the_end_without_it():
    chapters = chapters_using_triton()
    assert "10_fast_training.ipynb" in [p.name for p in chapters], "the grep must find chapter 10's fused loss"
    result = _without_triton(["-m", "pytest", *[str(p) for p in chapters], "--nbval-lax", "--nbval-current-env",
                              "--nbval-cell-timeout=900", "-p", "no:cacheprovider", "-q"])
    assert result.returncode == 0, f"with Triton blocked, {[p.name for p in chapters]}:\n{result.stdout[-6000:]}"
