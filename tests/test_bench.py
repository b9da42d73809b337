"""gpt2_lib.bench's pieces: on the CPU, the real text its fp8 suite trains on and the settings it refuses before any
work; on a GPU, FP8 matmuls swapped in.

The FP8 test runs real FP8 matmuls, on a GPU with FP8 tensor cores, with torchao (the optional extra gpt2_lib[fp8], not
in requirements.txt: transformers imports it whenever it builds a model, and its import warnings would reach the
chapters' outputs)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch

from gpt2_lib.bench import fp8_linears, run, shakespeare
from gpt2_lib.download import fetch_file
from gpt2_lib.model import GPT, GPTConfig
from gpt2_lib.tokenizer import get_tokenizer


def test_shakespeare_rows_are_runs_of_the_text_and_validation_is_held_out():
    train, val = shakespeare(3, 2, 32, device="cpu")
    assert train.shape == (3, 2, 33) and len(val) == 4
    text = fetch_file("tinyshakespeare.txt", progress=False).read_text()
    ids = np.array(get_tokenizer().encode(text))
    split = int(0.9 * len(ids))
    windows = np.lib.stride_tricks.sliding_window_view(ids, 33)
    for row in train.reshape(-1, 33).numpy():  # every row: 33 consecutive tokens of the first 90%
        starts = np.flatnonzero((windows == row).all(axis=1))
        assert len(starts) and starts.min() + 33 <= split
    for x, y in val:
        assert x.shape == y.shape == (2, 32) and torch.equal(x[:, 1:], y[:, :-1])  # y: x shifted by one token
    assert not any(torch.equal(train[0, 0, :32], x[0]) for x, _ in val)


def _has_fp8_tensor_cores() -> bool:
    return torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 9)


@pytest.mark.gpu
@pytest.mark.skipif(not _has_fp8_tensor_cores(), reason="needs a CUDA GPU with FP8 tensor cores (Ada, Hopper or newer)")
@pytest.mark.parametrize("head", [False, True])
def test_fp8_linears_swaps_the_linear_layers_and_keeps_the_tie(head):
    pytest.importorskip("torchao", reason="the extra gpt2_lib[fp8]")
    from torchao.float8.float8_linear import Float8Linear

    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=512, block_size=32, n_layer=2, n_head=2, n_embd=64)  # every dimension a multiple of 16
    model, reference = GPT(cfg).cuda(), GPT(cfg).cuda()
    reference.load_state_dict(model.state_dict())
    fp8_linears(model, head=head)
    block = model.transformer.h[0]
    assert all(isinstance(m, Float8Linear) for m in (block.attn.c_attn, block.attn.c_proj, block.mlp.c_fc))
    assert isinstance(model.lm_head, Float8Linear) == head
    assert model.lm_head.weight is model.transformer.wte.weight, "the head stays tied to the embedding"
    x = torch.randint(0, 512, (2, 32), device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss, ref = model(x, x)[1], reference(x, x)[1]
    loss.backward()
    # FP8 rounds every matmul's inputs to 3 mantissa bits: close to bf16, not equal
    assert torch.isfinite(loss) and loss.item() == pytest.approx(ref.item(), abs=0.05) and loss.item() != ref.item()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("settings, message", [
    (dict(impl="transformers", fp8="blocks"), "for gpt2_lib only"),
    (dict(fp8="head"), "'blocks' or 'all'"),
    (dict(text=True, cuda_graph=True), "without cuda_graph"),
    (dict(text=True, accum=4), "accum=1"),
])
def test_run_refuses_impossible_settings_before_any_work(settings, message):
    with pytest.raises(ValueError, match=message):
        run("refused", **settings)  # no GPU needed: nothing is built


def test_the_fp8_suite_without_torchao_stops_before_its_first_run():
    """Its bf16 run takes minutes on a GPU: a missing torchao must stop the suite before it, in one line."""
    if importlib.util.find_spec("torchao") is not None:
        pytest.skip("torchao is installed here, so the refusal cannot happen")
    run = subprocess.run([sys.executable, "-m", "gpt2_lib.bench", "fp8"], capture_output=True, text=True)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.strip() == "error: fp8 needs torchao: pip install 'gpt2_lib[fp8]'"
