"""GPT-2 in Keras 3 / TensorFlow (chapter 11): OpenAI's checkpoint loaded natively, logits, generation and a training
step equal to PyTorch. TensorFlow is an optional extra: without it these tests skip locally, but in CI (CI set) a
missing TensorFlow is an error, so the tests cannot silently not run there."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

if not os.environ.get("CI") and importlib.util.find_spec("tensorflow") is None:
    pytest.skip("TensorFlow is not installed", allow_module_level=True)

from gpt2_lib import tf_gpt  # noqa: E402
from gpt2_lib.model import GPT, GPTConfig  # noqa: E402
from gpt2_lib.pretrained import from_openai  # noqa: E402
from gpt2_lib.testing import random_openai_tensors, write_openai_checkpoint  # noqa: E402

tf = tf_gpt.tf  # TensorFlow as tf_gpt imported it, through import_tensorflow

SMALL = GPTConfig(vocab_size=97, block_size=16, n_layer=2, n_head=4, n_embd=32)
HP = dict(weight_decay=0.1, learning_rate=1e-3, betas=(0.9, 0.95))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small checkpoint in OpenAI's exact layout (random weights), written by TensorFlow's SaveV2."""
    hparams = {"n_vocab": SMALL.vocab_size, "n_ctx": SMALL.block_size, "n_embd": SMALL.n_embd,
               "n_head": SMALL.n_head, "n_layer": SMALL.n_layer}
    return write_openai_checkpoint(tmp_path_factory.mktemp("ckpt"), random_openai_tensors(SMALL, seed=2), hparams)


def _ids(B: int, T: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, SMALL.vocab_size, size=(B, T))


def test_gpt2_lib_does_not_import_tensorflow_unless_asked():
    code = ("import sys, gpt2_lib, gpt2_lib.model, gpt2_lib.numpy_gpt, gpt2_lib.pretrained, gpt2_lib.tf_checkpoint; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False", "importing gpt2_lib (without tf_gpt) must not import TensorFlow"


def test_from_openai_reads_every_tensor_natively(checkpoint):
    model = tf_gpt.GPT2Keras.from_openai(checkpoint)
    reader = tf.train.load_checkpoint(str(checkpoint / "model.ckpt"))
    variables = tf_gpt.openai_variables(model)
    assert set(variables) == set(reader.get_variable_to_shape_map()), "one variable per checkpoint tensor"
    w = reader.get_tensor("model/h1/mlp/c_fc/w")  # (1, in, out)
    assert np.array_equal(variables["model/h1/mlp/c_fc/w"].numpy(), w[0])
    assert model.count_params() == GPT(SMALL).num_params()


def test_from_openai_logits_equal_pytorch_float32(checkpoint):
    keras_model = tf_gpt.GPT2Keras.from_openai(checkpoint)
    torch_model = from_openai(checkpoint)
    ids = _ids(2, 16)
    with torch.no_grad():
        ref = torch_model(torch.from_numpy(ids))[0].numpy()
    out = keras_model(ids).numpy()
    assert out.shape == (2, 16, SMALL.vocab_size) and out.dtype == np.float32
    assert np.abs(out - ref).max() < 1e-4, f"max |Δlogit| {np.abs(out - ref).max():.2e}"


def test_from_gpt_logits_equal_pytorch_float64():
    torch.manual_seed(0)
    model = GPT(SMALL).double()
    ids = _ids(3, 16, seed=1)
    with torch.no_grad():
        ref = model(torch.from_numpy(ids))[0].numpy()
    out = tf_gpt.GPT2Keras.from_gpt(model, dtype="float64")(ids).numpy()
    assert np.abs(out - ref).max() < 1e-10


def test_from_openai_names_a_mismatched_tensor(checkpoint):
    bigger = tf_gpt.GPT2Keras(GPTConfig(vocab_size=97, block_size=16, n_layer=2, n_head=4, n_embd=64))
    with pytest.raises(ValueError, match="model/"):
        tf_gpt.load_openai_arrays(bigger, tf_gpt.openai_arrays(from_openai(checkpoint)))


def test_from_openai_on_a_folder_without_checkpoint_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="hparams.json"):
        tf_gpt.GPT2Keras.from_openai(tmp_path)


def test_greedy_generation_equals_pytorch(checkpoint):
    from gpt2_lib.generate import generate

    keras_model = tf_gpt.GPT2Keras.from_openai(checkpoint)
    prompt = _ids(2, 3, seed=4)
    with torch.no_grad():
        ref = generate(from_openai(checkpoint), torch.from_numpy(prompt), 6, temperature=0).numpy()
    assert np.array_equal(tf_gpt.generate(keras_model, prompt, 6, temperature=0), ref)
    sampled = tf_gpt.generate(keras_model, prompt, 6, temperature=1.0, top_k=5, seed=1)
    assert np.array_equal(sampled, tf_gpt.generate(keras_model, prompt, 6, temperature=1.0, top_k=5, seed=1))
    assert sampled.shape == (2, 9)


def _one_step(dtype: str, eps_keras: float):
    torch.manual_seed(0)
    model = GPT(SMALL)
    model = model.double() if dtype == "float64" else model
    keras_model = tf_gpt.GPT2Keras.from_gpt(model, dtype=dtype)
    x, y = _ids(4, 16, seed=7), _ids(4, 16, seed=8)
    opt_pt = model.configure_optimizers(**HP)
    opt_tf = tf_gpt.configure_optimizers(keras_model, HP["weight_decay"], HP["learning_rate"], HP["betas"], eps=eps_keras)
    _, loss_pt = model(torch.from_numpy(x), torch.from_numpy(y))
    opt_pt.zero_grad()
    loss_pt.backward()
    opt_pt.step()
    loss_tf = float(tf_gpt.train_step(keras_model, opt_tf, x, y))
    after_pt, after_tf = tf_gpt.openai_arrays(model), tf_gpt.openai_variables(keras_model)
    diff = max(np.abs(after_pt[n] - after_tf[n].numpy()).max() for n in after_pt)
    return loss_pt.item(), loss_tf, diff


def test_training_step_equals_pytorch_float64_with_pytorchs_epsilon():
    # Keras adds epsilon to sqrt(v) before the bias correction; eps * sqrt(1 - beta2) makes step 1 PyTorch's.
    loss_pt, loss_tf, diff = _one_step("float64", 1e-8 * (1 - HP["betas"][1]) ** 0.5)
    assert abs(loss_pt - loss_tf) < 1e-10
    assert diff < 1e-4 * HP["learning_rate"], f"weights after one step differ by {diff:.2e}"


def test_training_step_float32_default_epsilon_within_the_predicted_bound():
    loss_pt, loss_tf, diff = _one_step("float32", 1e-8)
    c = 1 / (1 - HP["betas"][1]) ** 0.5
    bound = (c**0.5 - 1) / (c**0.5 + 1)  # the largest |g/(|g|+eps) - g/(|g|+c eps)|: 0.358
    assert abs(loss_pt - loss_tf) < 1e-5
    assert diff < (bound + 0.15) * HP["learning_rate"], f"weights after one step differ by {diff:.2e}"


def test_optimizer_decays_matrices_only():
    model = tf_gpt.GPT2Keras(SMALL)
    opt = tf_gpt.configure_optimizers(model, 0.1, 1e-3)
    decayed = {v.path for v in model.trainable_variables if opt._use_weight_decay(v)}
    assert decayed == {v.path for v in model.trainable_variables if len(v.shape) >= 2}
    assert decayed, "the matrices must be decayed"


def test_compiled_training_step_lowers_the_loss():
    torch.manual_seed(0)
    model = tf_gpt.GPT2Keras.from_gpt(GPT(SMALL))
    opt = tf_gpt.configure_optimizers(model, 0.0, 1e-2)
    step = tf.function(tf_gpt.train_step)
    x, y = _ids(2, 8, seed=9), _ids(2, 8, seed=10)
    losses = [float(step(model, opt, x, y)) for _ in range(15)]
    assert losses[-1] < losses[0] - 1.0, f"overfitting one batch should lower the loss: {losses[0]:.3f} -> {losses[-1]:.3f}"
