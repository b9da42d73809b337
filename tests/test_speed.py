"""gpt2_lib.speed: the FLOPs estimate counts the model's real parameters; checkpointing changes memory, not math."""

from __future__ import annotations

import pytest
import torch

from gpt2_lib.model import GPT, GPTConfig
from gpt2_lib.speed import _count_params, checkpoint_blocks, flops_per_token, mfu


@pytest.mark.parametrize("config", [
    GPTConfig.from_name("tiny"),
    GPTConfig.from_name("tiny", bias=False),
    GPTConfig(vocab_size=50304, block_size=64, n_layer=3, n_head=2, n_embd=32),
])
def test_parameter_count_formula_equals_the_model(config):
    assert _count_params(config) == GPT(config).num_params()


def test_gpt2_flops_per_token_follow_palm():
    cfg = GPTConfig.from_name("gpt2")
    n = 124_439_808
    assert flops_per_token(cfg) == 6 * (n - 1024 * 768) + 12 * 12 * 768 * 1024
    assert flops_per_token(cfg, T=512) == 6 * (n - 1024 * 768) + 12 * 12 * 768 * 512


def test_mfu_is_model_flops_over_peak():
    cfg = GPTConfig.from_name("gpt2")
    assert mfu(1000.0, cfg, 1e12) == pytest.approx(flops_per_token(cfg) * 1000 / 1e12)


def _grads(model: GPT, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad()
    model(x, y)[1].backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def test_checkpointing_keeps_gradients_and_state_dict_and_switches_off():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=64, block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.1)).train()
    seq = torch.randint(0, 64, (3, 17))
    x, y = seq[:, :-1], seq[:, 1:]
    torch.manual_seed(1)
    plain = _grads(model, x, y)
    keys = list(model.state_dict())
    checkpoint_blocks(checkpoint_blocks(model))  # twice: must not nest
    torch.manual_seed(1)  # the same dropout masks: checkpointing replays the RNG in the recomputation
    ckpt = _grads(model, x, y)
    assert list(model.state_dict()) == keys
    for name in plain:
        torch.testing.assert_close(ckpt[name], plain[name], rtol=1e-5, atol=1e-6, msg=name)
    checkpoint_blocks(model, enabled=False)
    assert all("forward" not in vars(block) for block in model.transformer.h)
