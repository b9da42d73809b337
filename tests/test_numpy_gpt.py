"""The NumPy GPT-2 of chapter 11: forward, hand-written backward and AdamW must equal PyTorch (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gpt2_lib import numpy_gpt, tf_checkpoint
from gpt2_lib.attention import explicit_attention
from gpt2_lib.model import GPT, GPTConfig
from gpt2_lib.testing import random_openai_tensors, write_openai_checkpoint

SMALL = GPTConfig(vocab_size=97, block_size=16, n_layer=2, n_head=4, n_embd=32)
TOL = 1e-6  # relative error of a gradient, float64


def rel_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(ours - reference).max() / max(np.abs(reference).max(), 1e-300))


def torch_grads(fn, *arrays, upstream):
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    fn(*tensors).backward(torch.from_numpy(upstream))
    return [t.grad.numpy() for t in tensors]


@pytest.fixture(scope="module")
def small_model() -> GPT:
    torch.manual_seed(0)
    return GPT(SMALL).double()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_params_from_state_dict_has_openai_layout_and_copies(small_model):
    params = numpy_gpt.params_from_state_dict(small_model.state_dict())
    assert params["blocks"][1]["attn"]["c_attn"]["w"].shape == (32, 96), "Linear weights must become (in, out)"
    assert params["wte"].shape == (97, 32) and params["ln_f"]["g"].shape == (32,)
    expected = small_model.transformer.h[1].attn.c_attn.weight.detach().numpy().T
    assert np.array_equal(params["blocks"][1]["attn"]["c_attn"]["w"], expected)
    params["wte"] += 1.0  # a copy: the torch model must not change
    assert not np.array_equal(params["wte"], small_model.transformer.wte.weight.detach().numpy())


def test_params_from_openai_checkpoint_equal_params_from_state_dict(tmp_path):
    from gpt2_lib.pretrained import from_openai

    config = SMALL
    hparams = {"n_vocab": config.vocab_size, "n_ctx": config.block_size, "n_embd": config.n_embd,
               "n_head": config.n_head, "n_layer": config.n_layer}
    folder = write_openai_checkpoint(tmp_path / "ckpt", random_openai_tensors(config, seed=1), hparams)
    a = numpy_gpt.flatten(numpy_gpt.params_from_state_dict(tf_checkpoint.read(folder / "model.ckpt")))
    b = numpy_gpt.flatten(numpy_gpt.params_from_state_dict(from_openai(folder).state_dict()))
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name]), f"{name} differs between the checkpoint and the loaded GPT"


def test_params_from_state_dict_rejects_foreign_names():
    with pytest.raises(ValueError, match="neither"):
        numpy_gpt.params_from_state_dict({"encoder.weight": np.zeros(3)})


def test_forward_equals_pytorch_float64(small_model, rng):
    params = numpy_gpt.params_from_state_dict(small_model.state_dict())
    ids = rng.integers(0, 97, size=(3, 16))
    with torch.no_grad():
        ref = small_model(torch.from_numpy(ids))[0].numpy()
    assert np.abs(numpy_gpt.forward(params, ids, 4) - ref).max() < 1e-12


def test_forward_equals_pytorch_float32_within_1e_4(rng):
    torch.manual_seed(1)
    model = GPT(SMALL)
    params = numpy_gpt.params_from_state_dict(model.state_dict())
    ids = rng.integers(0, 97, size=(2, 16))
    with torch.no_grad():
        ref = model(torch.from_numpy(ids))[0].numpy()
    assert np.abs(numpy_gpt.forward(params, ids, 4) - ref).max() < 1e-4


def test_forward_rejects_unbatched_ids(small_model):
    params = numpy_gpt.params_from_state_dict(small_model.state_dict())
    with pytest.raises(ValueError, match="ids\\[None\\]"):
        numpy_gpt.forward(params, np.arange(5), 4)


def test_kv_cache_generation_equals_recompute_and_pytorch(small_model, rng):
    from gpt2_lib.generate import generate

    params = numpy_gpt.params_from_state_dict(small_model.state_dict())
    prompt = rng.integers(0, 97, size=(2, 4))
    cached = numpy_gpt.generate(params, prompt, 10, 4, temperature=0)
    ids = prompt
    for _ in range(10):
        ids = np.concatenate([ids, numpy_gpt.forward(params, ids, 4)[:, -1].argmax(-1)[:, None]], axis=1)
    with torch.no_grad():
        ref = generate(small_model, torch.from_numpy(prompt), 10, temperature=0).numpy()
    assert np.array_equal(cached, ids), "KV-cache generation differs from recomputing the whole sequence"
    assert np.array_equal(cached, ref), "NumPy generation differs from gpt2_lib.generate"
    again = numpy_gpt.generate(params, prompt, 10, 4, temperature=0)
    assert np.array_equal(again, cached), "a second call must not see the first call's cache"


def test_sampling_is_seeded_and_respects_top_k(small_model, rng):
    params = numpy_gpt.params_from_state_dict(small_model.state_dict())
    prompt = rng.integers(0, 97, size=(1, 3))
    a = numpy_gpt.generate(params, prompt, 6, 4, temperature=1.0, top_k=1, seed=0)
    assert np.array_equal(a, numpy_gpt.generate(params, prompt, 6, 4, temperature=0)), "top_k=1 must be greedy"
    b = numpy_gpt.generate(params, prompt, 6, 4, temperature=1.0, seed=3)
    assert np.array_equal(b, numpy_gpt.generate(params, prompt, 6, 4, temperature=1.0, seed=3))


def test_generate_refuses_to_run_past_the_position_table(small_model):
    params = numpy_gpt.params_from_state_dict(small_model.state_dict())
    with pytest.raises(ValueError, match="positions"):
        numpy_gpt.generate(params, np.zeros((1, 10), dtype=np.int64), 7, 4, temperature=0)


# --- every layer's gradient against torch.autograd --------------------------------------------------------------


def test_cross_entropy_gradient_with_ignored_targets(rng):
    z = rng.standard_normal((2, 5, 11))
    y = rng.integers(0, 11, size=(2, 5))
    y[0, 2] = -100
    loss, dz = numpy_gpt.cross_entropy(z, y)
    zt = torch.tensor(z, requires_grad=True)
    ref = F.cross_entropy(zt.view(-1, 11), torch.from_numpy(y).view(-1))
    ref.backward()
    assert abs(loss - ref.item()) < 1e-12
    assert rel_error(dz, zt.grad.numpy()) <= TOL
    with pytest.raises(ValueError, match="-100"):
        numpy_gpt.cross_entropy(z, np.full((2, 5), -100))


def test_linear_gradient(rng):
    x, w, b, dy = rng.standard_normal((2, 5, 6)), rng.standard_normal((6, 4)), rng.standard_normal(4), \
        rng.standard_normal((2, 5, 4))
    ref = torch_grads(lambda x, w, b: x @ w + b, x, w, b, upstream=dy)
    for ours, theirs, name in zip(numpy_gpt.linear_backward(dy, x, w), ref, ("dx", "dw", "db")):
        assert rel_error(ours, theirs) <= TOL, name


def test_gelu_gradient(rng):
    x, dy = 3 * rng.standard_normal((4, 9)), rng.standard_normal((4, 9))
    (ref,) = torch_grads(lambda x: F.gelu(x, approximate="tanh"), x, upstream=dy)
    assert rel_error(numpy_gpt.gelu_backward(dy, x), ref) <= TOL


def test_layer_norm_gradient(rng):
    x, dy = 2 * rng.standard_normal((2, 5, 8)) + 1, rng.standard_normal((2, 5, 8))
    g, b = 1 + 0.1 * rng.standard_normal(8), 0.1 * rng.standard_normal(8)
    ref = torch_grads(lambda x, g, b: F.layer_norm(x, (8,), g, b, 1e-5), x, g, b, upstream=dy)
    for ours, theirs, name in zip(numpy_gpt.layer_norm_backward(dy, x, g), ref, ("dx", "dg", "db")):
        assert rel_error(ours, theirs) <= TOL, name


def test_softmax_gradient(rng):
    s, dy = rng.standard_normal((3, 7)), rng.standard_normal((3, 7))
    (ref,) = torch_grads(lambda s: torch.softmax(s, -1), s, upstream=dy)
    assert rel_error(numpy_gpt.softmax_backward(dy, numpy_gpt.softmax(s)), ref) <= TOL


def test_causal_attention_gradient_and_no_gradient_from_the_future(rng):
    q, k, v = (rng.standard_normal((2, 3, 6, 4)) for _ in range(3))
    dy = rng.standard_normal(q.shape)
    ref = torch_grads(lambda q, k, v: explicit_attention(q, k, v)[0], q, k, v, upstream=dy)
    y, p = numpy_gpt.causal_attention(q, k, v)
    for ours, theirs, name in zip(numpy_gpt.causal_attention_backward(dy, q, k, v, p), ref, ("dq", "dk", "dv")):
        assert rel_error(ours, theirs) <= TOL, name
    dy_first = np.zeros_like(dy)
    dy_first[..., 0, :] = 1.0  # only the first query's output matters: later keys and values get no gradient
    _, dk, dv = numpy_gpt.causal_attention_backward(dy_first, q, k, v, p)
    assert not dk[..., 1:, :].any() and not dv[..., 1:, :].any()


def test_embedding_gradient_sums_repeated_ids(rng):
    ids = np.array([[3, 1, 3, 3], [0, 1, 2, 9]])
    W, dy = rng.standard_normal((10, 5)), rng.standard_normal((2, 4, 5))
    (ref,) = torch_grads(lambda W: F.embedding(torch.from_numpy(ids), W), W, upstream=dy)
    assert rel_error(numpy_gpt.embedding_backward(dy, ids, 10), ref) <= TOL


def test_block_gradients_equal_autograd(small_model, rng):
    params = numpy_gpt.params_from_state_dict(small_model.state_dict())
    block = params["blocks"][0]
    x, dy = rng.standard_normal((2, 7, 32)), rng.standard_normal((2, 7, 32))
    out, saved = numpy_gpt.block_forward(x, **block, n_head=4)
    assert np.abs(out - np.stack([numpy_gpt.transformer_block(row, **block, n_head=4) for row in x])).max() < 1e-12
    dx, grads = numpy_gpt.block_backward(dy, saved, **block, n_head=4)
    xt = torch.tensor(x, requires_grad=True)
    torch_block = small_model.transformer.h[0]
    torch_block.zero_grad()
    torch_block(xt).backward(torch.from_numpy(dy))
    assert rel_error(dx, xt.grad.numpy()) <= TOL
    ref = numpy_gpt.params_from_state_dict({f"transformer.h.0.{n}": p.grad for n, p in torch_block.named_parameters()})
    ref_flat = numpy_gpt.flatten(ref["blocks"][0])
    for name, g in numpy_gpt.flatten(grads).items():
        assert rel_error(g, ref_flat[name]) <= TOL, f"block gradient {name}"


# --- the whole model, and training ----------------------------------------------------------------------------


def _autograd(model: GPT, x: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
    model.zero_grad()
    _, loss = model(torch.from_numpy(x), torch.from_numpy(y))
    loss.backward()
    return loss.item(), numpy_gpt.params_from_state_dict({n: p.grad for n, p in model.named_parameters()})


def test_full_model_gradients_equal_autograd(small_model, rng):
    params = numpy_gpt.params_from_state_dict(small_model.state_dict())
    x, y = rng.integers(0, 97, size=(3, 16)), rng.integers(0, 97, size=(3, 16))
    y[2, 5:] = -100  # padding, as fine-tuning uses it
    loss, grads = numpy_gpt.loss_and_grads(params, x, y, 4)
    ref_loss, ref = _autograd(small_model, x, y)
    assert abs(loss - ref_loss) < 1e-12
    ours, theirs = numpy_gpt.flatten(grads), numpy_gpt.flatten(ref)
    assert ours.keys() == theirs.keys()
    bad = {n: rel_error(ours[n], theirs[n]) for n in theirs if rel_error(ours[n], theirs[n]) > TOL}
    assert not bad, f"gradients that differ from autograd (relative error): {bad}"


def test_ten_adamw_steps_give_pytorchs_losses():
    torch.manual_seed(0)
    model = GPT(SMALL).double()
    params = numpy_gpt.params_from_state_dict(model.state_dict())
    hp = dict(weight_decay=0.1, learning_rate=3e-3, betas=(0.9, 0.95))
    opt_pt = model.configure_optimizers(**hp)
    opt_np = numpy_gpt.AdamW(params, lr=hp["learning_rate"], betas=hp["betas"], weight_decay=hp["weight_decay"])
    rng = np.random.default_rng(5)
    for step in range(10):
        x, y = rng.integers(0, 97, size=(4, 16)), rng.integers(0, 97, size=(4, 16))
        loss, grads = numpy_gpt.loss_and_grads(params, x, y, 4)
        opt_np.step(grads)
        ref_loss, _ = _autograd(model, x, y)
        opt_pt.step()
        assert abs(loss - ref_loss) <= 1e-5, f"step {step}: NumPy loss {loss} vs PyTorch {ref_loss}"
    after = numpy_gpt.flatten(numpy_gpt.params_from_state_dict(model.state_dict()))
    for name, p in numpy_gpt.flatten(params).items():
        assert np.abs(p - after[name]).max() < 1e-10, f"{name} after 10 steps"
    assert loss < ref_loss + 1e-5 and opt_np.t == 10


def test_adamw_decays_matrices_only():
    params = {"w": np.ones((2, 2)), "b": np.ones(2)}
    opt = numpy_gpt.AdamW(params, lr=0.1, weight_decay=0.5)
    opt.step({"w": np.zeros((2, 2)), "b": np.zeros(2)})  # zero gradient: only the decay moves anything
    assert np.allclose(params["w"], 0.95) and np.allclose(params["b"], 1.0)
