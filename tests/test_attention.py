"""Chapter 3's attention: the explicit path equals PyTorch's fused SDPA, it is causal, and NumPy agrees with PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gpt2_lib.attention import CausalSelfAttention, explicit_attention
from gpt2_lib.numpy_gpt import attention, causal_mask, linear, mha, softmax


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@pytest.mark.parametrize("shape", [(1, 1, 1, 4), (2, 3, 5, 4), (1, 2, 17, 16), (3, 4, 64, 32)])  # (B, nh, T, hs)
def test_explicit_attention_equals_sdpa(shape):
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(shape, generator=gen) * 0.5 for _ in range(3))  # the size c_attn gives unit-variance x
    y, att = explicit_attention(q, k, v)
    y_sdpa = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert att.shape == shape[:3] + (shape[2],), f"weights have shape {tuple(att.shape)}, expected (B, nh, T, T)"
    assert _max_diff(y, y_sdpa) < 1e-6, f"{shape}: max |explicit - sdpa| = {_max_diff(y, y_sdpa)}"


@pytest.mark.parametrize("B, T, C, n_head", [(1, 1, 8, 2), (2, 7, 32, 4), (3, 33, 48, 6)])
def test_module_weights_path_gives_the_default_output_in_eval_mode_even_with_dropout(B, T, C, n_head):
    torch.manual_seed(0)
    attn = CausalSelfAttention(C, n_head, dropout=0.2).eval()
    x = torch.randn(B, T, C)
    with torch.no_grad():
        y_default = attn(x)
        y_explicit, att = attn.forward_with_weights(x)
    assert att.shape == (B, n_head, T, T)
    assert _max_diff(y_default, y_explicit) < 1e-6, f"SDPA and explicit paths differ by {_max_diff(y_default, y_explicit)}"


def test_weights_rows_sum_to_one_and_are_zero_above_the_diagonal():
    torch.manual_seed(0)
    _, att = CausalSelfAttention(32, 4).eval().forward_with_weights(torch.randn(2, 9, 32))
    row_sums = att.sum(-1)
    assert torch.allclose(row_sums, torch.ones_like(row_sums), atol=1e-6), f"row sums range {row_sums.min()}..{row_sums.max()}"
    above = att.triu(diagonal=1)
    assert (above == 0).all(), f"{int((above != 0).sum())} weights above the diagonal are not zero"


@pytest.mark.parametrize("t", [1, 5, 11])
def test_changing_later_tokens_leaves_earlier_outputs_unchanged(t):
    torch.manual_seed(0)
    attn = CausalSelfAttention(32, 4).eval()
    x = torch.randn(2, 12, 32)
    x_changed = x.clone()
    x_changed[:, t:] += torch.randn_like(x_changed[:, t:])
    with torch.no_grad():
        for path, run in (("forward", attn), ("forward_with_weights", lambda x: attn.forward_with_weights(x)[0])):
            y, y_changed = run(x), run(x_changed)
            assert torch.equal(y[:, :t], y_changed[:, :t]), (
                f"{path}: changing tokens {t}.. changed outputs before position {t}"
            )
            assert not torch.allclose(y[:, t:], y_changed[:, t:]), "changed tokens must change their own outputs"


def _numpy_params(layer: torch.nn.Linear) -> dict[str, np.ndarray]:
    return {"w": layer.weight.detach().numpy().T, "b": layer.bias.detach().numpy()}  # nn.Linear (out, in) -> (in, out)


@pytest.mark.parametrize("T, C, n_head", [(1, 8, 1), (7, 24, 3), (40, 64, 8)])
def test_numpy_mha_equals_pytorch_module_on_the_same_weights(T, C, n_head):
    torch.manual_seed(0)
    attn = CausalSelfAttention(C, n_head).eval()
    x = torch.randn(1, T, C)
    with torch.no_grad():
        y_torch = attn(x)[0].numpy()
    y_numpy = mha(x[0].numpy(), _numpy_params(attn.c_attn), _numpy_params(attn.c_proj), n_head)
    assert y_numpy.shape == (T, C)
    diff = np.abs(y_numpy - y_torch).max()
    assert diff < 1e-5, f"NumPy mha and CausalSelfAttention differ by {diff}"


def test_numpy_attention_is_causal_and_matches_the_explicit_path():
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((3, 6, 4)).astype(np.float32)
    mask = causal_mask(6)
    assert mask.shape == (6, 6) and (mask[np.tril_indices(6)] == 0).all() and (mask[np.triu_indices(6, 1)] == -1e10).all()
    y_torch, _ = explicit_attention(*(torch.from_numpy(a)[None, None] for a in (q, k, v)))
    diff = np.abs(attention(q, k, v, mask) - y_torch[0, 0].numpy()).max()
    assert diff < 1e-6, f"NumPy attention and explicit_attention differ by {diff}"


def test_linear_is_x_at_w_plus_b_with_w_in_out():
    x, w, b = np.ones((2, 3)), np.arange(12.0).reshape(3, 4), np.array([1.0, 0.0, 0.0, 0.0])
    assert np.array_equal(linear(x, w, b), np.array([[13.0, 15.0, 18.0, 21.0]] * 2))


def test_softmax_is_stable_for_large_inputs_and_equals_torch():
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0], [1.0, 2.0, 3.0]])
    p = softmax(x)
    assert np.isfinite(p).all(), f"softmax overflowed: {p}"
    assert np.allclose(p.sum(-1), 1.0)
    expected = torch.softmax(torch.from_numpy(x), dim=-1).numpy()
    assert np.allclose(p, expected, atol=1e-12), f"softmax {p} differs from torch.softmax {expected}"


def test_width_that_does_not_split_into_heads_names_both_numbers():
    with pytest.raises(ValueError, match=r"n_embd=768.*n_head=10"):
        CausalSelfAttention(768, 10)


@pytest.mark.parametrize("n_head", [0, -1])
def test_fewer_than_one_head_is_rejected(n_head):
    with pytest.raises(ValueError, match="n_head must be at least 1"):
        CausalSelfAttention(768, n_head)


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5])
def test_dropout_out_of_range_is_rejected(dropout):
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        CausalSelfAttention(64, 4, dropout=dropout)


@pytest.mark.parametrize("explicit", [False, True])
def test_dropout_changes_outputs_in_train_mode_only(explicit):
    torch.manual_seed(0)
    attn = CausalSelfAttention(32, 4, dropout=0.5)
    x = torch.randn(2, 9, 32)
    run = (lambda x: attn.forward_with_weights(x)[0]) if explicit else attn
    attn.train()
    assert not torch.equal(run(x), run(x)), "train mode: no dropout"
    attn.eval()
    assert torch.equal(run(x), run(x)), "eval mode: outputs vary"


def test_parameter_names_match_openais_checkpoint():
    attn = CausalSelfAttention(768, 12)
    shapes = {name: tuple(p.shape) for name, p in attn.named_parameters()}
    assert shapes == {"c_attn.weight": (2304, 768), "c_attn.bias": (2304,), "c_proj.weight": (768, 768), "c_proj.bias": (768,)}
    assert list(attn.state_dict()) == list(shapes), "no buffers: the state dict must load into GPT-2's checkpoint names"


def test_bias_false_builds_linear_layers_without_bias():
    attn = CausalSelfAttention(32, 4, bias=False)
    assert attn.c_attn.bias is None and attn.c_proj.bias is None
    assert attn(torch.randn(1, 5, 32)).shape == (1, 5, 32)


def test_a_mask_replaces_the_causal_one():
    torch.manual_seed(0)
    attn, x = CausalSelfAttention(32, 4).eval(), torch.randn(2, 6, 32)
    causal = torch.ones(6, 6, dtype=torch.bool).tril()
    assert torch.allclose(attn(x, attn_mask=causal), attn(x), atol=1e-6), "the causal mask given must equal the default"
    hide_first = causal & (torch.arange(6) > 0) | torch.eye(6, dtype=torch.bool)  # nothing but itself reads slot 0
    y = attn(x, attn_mask=hide_first)
    x_changed = x.clone()
    x_changed[:, 0] += 1.0
    y_changed = attn(x_changed, attn_mask=hide_first)
    assert torch.allclose(y_changed[:, 1:], y[:, 1:], atol=1e-6), "a slot the mask hides was read"


def test_forward_returns_one_tensor_and_forward_with_weights_a_pair():
    torch.manual_seed(0)
    attn, x = CausalSelfAttention(32, 4).eval(), torch.randn(2, 6, 32)
    y = attn(x)
    assert isinstance(y, torch.Tensor), f"forward returned {type(y).__name__}, not one tensor"
    y_explicit, att = attn.forward_with_weights(x)
    assert att.shape == (2, 4, 6, 6), f"weights of shape {tuple(att.shape)}"
    assert torch.allclose(y, y_explicit, atol=1e-6), "the explicit path gives another output"
