"""Chapter 4's block: LayerNorm, GELU, MLP and the pre-LN Block, in PyTorch and NumPy, agree and behave as GPT-2's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from gpt2_lib import numpy_gpt
from gpt2_lib.block import MLP, Block


def _linear(layer: nn.Linear) -> dict[str, np.ndarray]:
    """picoGPT's {"w": (in, out), "b"} from an nn.Linear, whose weight is (out, in)."""
    return {"w": layer.weight.detach().numpy().T.copy(), "b": layer.bias.detach().numpy().copy()}


def _ln(layer: nn.LayerNorm) -> dict[str, np.ndarray]:
    return {"g": layer.weight.detach().numpy().copy(), "b": layer.bias.detach().numpy().copy()}


def _randomise_(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter, LayerNorm gains and biases included, values away from their defaults."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            is_gain = name.endswith("weight") and p.dim() == 1
            p.copy_((1.0 if is_gain else 0.0) + 0.2 * torch.randn(p.shape, generator=g))
    return module


@pytest.mark.parametrize("gain_and_bias", [False, True], ids=["default gain and bias", "random gain and bias"])
def test_numpy_layer_norm_matches_torch(gain_and_bias):
    torch.manual_seed(0)
    ln = nn.LayerNorm(48, eps=1e-5)
    if gain_and_bias:
        _randomise_(ln)
    x = 4.0 * torch.randn(3, 7, 48) - 2.0
    got = numpy_gpt.layer_norm(x.numpy(), **_ln(ln))
    diff = np.abs(got - ln(x).detach().numpy()).max()
    assert diff < 1e-5, f"numpy layer_norm differs from nn.LayerNorm by {diff:.2e}"


def test_layer_norm_of_a_constant_vector_is_its_bias_not_nan():
    g, b = np.full(8, 2.0, dtype=np.float32), np.arange(8, dtype=np.float32)
    out = numpy_gpt.layer_norm(np.full((1, 8), 5.0, dtype=np.float32), g, b)
    assert np.isfinite(out).all() and np.allclose(out, b), f"got {out}"


def test_numpy_gelu_is_torchs_tanh_gelu():
    x = torch.linspace(-8, 8, 10_001)
    diff = np.abs(numpy_gpt.gelu(x.numpy()) - nn.GELU(approximate="tanh")(x).numpy()).max()
    assert diff < 1e-6, f"numpy gelu differs from nn.GELU(approximate='tanh') by {diff:.2e}"


def test_tanh_gelu_is_within_4_8e_4_of_exact_gelu():
    x = torch.linspace(-8, 8, 160_001, dtype=torch.float64)
    gap = np.abs(numpy_gpt.gelu(x.numpy()) - nn.GELU()(x).numpy()).max()
    assert 4.6e-4 < gap < 4.8e-4, f"max gap between tanh and exact GELU is {gap:.3e}; the chapter states 4.7e-4"


def test_numpy_ffn_matches_mlp():
    torch.manual_seed(0)
    mlp = _randomise_(MLP(32)).eval()
    x = torch.randn(9, 32)
    got = numpy_gpt.ffn(x.numpy(), _linear(mlp.c_fc), _linear(mlp.c_proj))
    diff = np.abs(got - mlp(x).detach().numpy()).max()
    assert diff < 1e-5, f"numpy ffn differs from MLP by {diff:.2e}"


def test_mlp_widens_four_times_with_gpt2_names():
    mlp = MLP(16)
    assert (mlp.c_fc.in_features, mlp.c_fc.out_features) == (16, 64)
    assert (mlp.c_proj.in_features, mlp.c_proj.out_features) == (64, 16)
    assert isinstance(mlp.gelu, nn.GELU) and mlp.gelu.approximate == "tanh"


def test_numpy_transformer_block_matches_block():
    torch.manual_seed(0)
    block = _randomise_(Block(32, n_head=4)).eval()
    x = torch.randn(1, 11, 32)
    params = {
        "ln_1": _ln(block.ln_1),
        "attn": {"c_attn": _linear(block.attn.c_attn), "c_proj": _linear(block.attn.c_proj)},
        "ln_2": _ln(block.ln_2),
        "mlp": {"c_fc": _linear(block.mlp.c_fc), "c_proj": _linear(block.mlp.c_proj)},
    }
    got = numpy_gpt.transformer_block(x[0].numpy(), **params, n_head=4)
    diff = np.abs(got - block(x)[0].detach().numpy()).max()
    assert diff < 1e-5, f"numpy transformer_block differs from Block by {diff:.2e}"


def test_block_is_pre_ln_with_residuals():
    torch.manual_seed(0)
    block = _randomise_(Block(32, n_head=4)).eval()
    x = torch.randn(2, 6, 32)
    h = x + block.attn(block.ln_1(x))
    expected = h + block.mlp(block.ln_2(h))
    assert torch.allclose(block(x), expected, atol=1e-6), "Block must compute x + attn(ln_1(x)), then + mlp(ln_2(x))"


def test_block_keeps_the_shape():
    block = Block(24, n_head=3)
    for shape in [(1, 1, 24), (2, 5, 24), (3, 17, 24)]:
        assert block(torch.randn(shape)).shape == shape


def test_block_is_causal():
    torch.manual_seed(0)
    block = Block(32, n_head=4).eval()
    x = torch.randn(2, 10, 32)
    y = block(x)
    for t in range(10):
        changed = x.clone()
        changed[:, t:] = torch.randn(2, 10 - t, 32)
        y_changed = block(changed)
        assert torch.allclose(y[:, :t], y_changed[:, :t], atol=1e-6), (
            f"changing tokens from position {t} on changed the outputs at positions before {t}"
        )
        assert not torch.allclose(y[:, t:], y_changed[:, t:]), f"outputs from position {t} on must see their tokens"


def test_block_parameter_count_at_gpt2_size():
    block = Block(768, n_head=12)
    n = sum(p.numel() for p in block.parameters())
    assert n == 7_087_872, f"Block(768, 12) has {n:,} parameters, GPT-2's block has 7,087,872"
    names = {name for name, _ in block.named_parameters()}
    for expected in ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_proj.bias", "ln_2.weight",
                     "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"]:
        assert expected in names, f"{expected} missing: checkpoint names would not map onto the block"


def test_block_without_bias_has_no_biases():
    block = Block(32, n_head=4, bias=False)
    assert all(not name.endswith("bias") for name, _ in block.named_parameters())
    assert sum(p.numel() for p in block.parameters()) == 12 * 32**2 + 2 * 32  # 12C² weights, two LayerNorm gains


def test_layer_norms_use_gpt2_epsilon():
    block = Block(32, n_head=4)
    assert block.ln_1.eps == block.ln_2.eps == 1e-5


def test_dropout_is_inactive_in_eval_mode():
    torch.manual_seed(0)
    noisy = Block(32, n_head=4, dropout=0.5)
    clean = Block(32, n_head=4, dropout=0.0)
    clean.load_state_dict(noisy.state_dict())
    x = torch.randn(2, 8, 32)
    noisy.train()
    assert not torch.equal(noisy(x), noisy(x)), "in train mode dropout should make two calls differ"
    noisy.eval(), clean.eval()
    assert torch.equal(noisy(x), noisy(x)), "in eval mode the block must be deterministic"
    assert torch.allclose(noisy(x), clean(x), atol=1e-6), "in eval mode dropout=0.5 must equal dropout=0"
