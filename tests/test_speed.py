"""gpt2_lib.speed: the FLOPs estimate counts the model's real parameters; checkpointing changes memory, not math."""

from __future__ import annotations

import pytest
import torch

from gpt2_lib.model import GPT, GPTConfig, configure_optimizers
from gpt2_lib.cuda_graph import graph_step, make_capturable
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


def test_mfu_of_gpt2_at_a_known_rate():
    # GPT-2 124M at T=1024 needs 855,166,464 FLOPs per token (PaLM's count, worked out by hand in the test above):
    # 1,000 tokens/s on a 1 TFLOP/s machine is 85.5% of it, and half the rate half the MFU
    cfg = GPTConfig.from_name("gpt2")
    assert mfu(1000.0, cfg, 1e12) == pytest.approx(0.855166464), "mfu must be FLOPs per token x tokens/s / peak"
    assert mfu(500.0, cfg, 1e12) == pytest.approx(0.855166464 / 2)


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


def test_graph_step_says_what_it_needs():
    model = GPT(GPTConfig.from_name("tiny", vocab_size=64))
    with pytest.raises(ValueError, match="needs a CUDA GPU and the model on it"):  # a CPU model, GPU or not
        graph_step(lambda: torch.zeros(()), torch.optim.AdamW(model.parameters()))
    with pytest.raises(ValueError, match="needs a CUDA GPU and the model on it"):
        make_capturable(torch.optim.AdamW(model.parameters()))
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="use AdamW or Adam"):
            graph_step(lambda: torch.zeros(()), torch.optim.SGD(model.cuda().parameters(), lr=0.1))
        optimizer = torch.optim.AdamW(model.parameters(), fused=True)
        with pytest.raises(ValueError, match="warmup must be at least 1"):
            graph_step(lambda: torch.zeros(()), optimizer, warmup=0)
        model(torch.zeros(1, 4, dtype=torch.long, device="cuda"))[0].sum().backward()
        optimizer.step()
        with pytest.raises(ValueError, match="already has state"):
            graph_step(lambda: torch.zeros(()), optimizer)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs: needs a CUDA GPU")
def test_graph_step_replays_compute_what_plain_steps_compute():
    torch.manual_seed(0)
    batches = torch.randint(0, 256, (8, 4, 33), device="cuda")
    cfg = GPTConfig(vocab_size=256, block_size=32, n_layer=2, n_head=2, n_embd=32)

    def train(use_graph: bool, compile: bool) -> tuple[list[float], dict[str, torch.Tensor]]:
        torch.manual_seed(1)
        model = GPT(cfg).cuda()
        forward = torch.compile(model) if compile else model
        optimizer = configure_optimizers(model, 0.1, 1e-3, device_type="cuda")
        x = batches[0].clone()

        def update():
            _, loss = forward(x[:, :-1], x[:, 1:])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            return loss

        if use_graph:
            replay = graph_step(update, optimizer, warmup=1)  # its warm-up is the update on batches[0]
        else:
            make_capturable(optimizer)  # graph_step's optimizer settings, so both compute the same numbers
            update()
            optimizer.zero_grad(set_to_none=True)
        losses = []
        for i, batch in enumerate(batches[1:], start=1):
            if i == 4:  # a new learning rate reaches the replays through the tensor
                for group in optimizer.param_groups:
                    group["lr"].fill_(3e-4)
            x.copy_(batch)
            if use_graph:
                losses.append(replay().item())
            else:
                losses.append(update().item())
                optimizer.zero_grad(set_to_none=True)
        if use_graph:
            optimizer.param_groups[0]["lr"] = 1e-4  # a new number: the replays could not see it
            with pytest.raises(ValueError, match="fill_"):
                replay()
        return losses, {k: v.detach().clone() for k, v in model.state_dict().items()}

    def without_key_bias(name: str, w: torch.Tensor) -> torch.Tensor:
        # A bias on the keys adds the same q . b to every score of a row, which softmax ignores: its gradient is zero
        # in exact arithmetic (about 1e-12 in floats), and AdamW scales that rounding noise up to steps of the
        # learning rate, in directions that depend on the order of the sums. Compare the queries' and values' parts.
        if name.endswith("attn.c_attn.bias"):
            q, _, v = w.chunk(3)
            return torch.cat([q, v])
        return w

    for compile in (False, True):
        plain_losses, plain_weights = train(False, compile)
        graph_losses, graph_weights = train(True, compile)
        assert graph_losses == pytest.approx(plain_losses, rel=1e-6), compile
        for name, w in plain_weights.items():
            torch.testing.assert_close(without_key_bias(name, graph_weights[name]), without_key_bias(name, w),
                                       rtol=1e-5, atol=1e-6,
                                       msg=lambda m, name=name: f"{name} (compile={compile}): {m}")


def test_the_key_bias_gets_no_gradient_but_rounding_noise():
    # why the test above leaves the key bias out: softmax(s + c) = softmax(s) for a constant c per row
    torch.manual_seed(1)
    model = GPT(GPTConfig(vocab_size=256, block_size=32, n_layer=2, n_head=2, n_embd=32))
    x = torch.randint(0, 256, (4, 33))
    model(x[:, :-1], x[:, 1:])[1].backward()
    for block in model.transformer.h:
        q, k, v = block.attn.c_attn.bias.grad.view(3, -1).abs().amax(dim=1)  # the largest of each part
        assert k < 1e-9 < min(q, v), (q, k, v)


def test_pad_vocab_rounds_up_to_the_multiple_and_keeps_the_rest():
    from gpt2_lib.speed import pad_vocab

    padded = pad_vocab(GPTConfig())
    assert padded.vocab_size == 50304 and padded.n_embd == 768, padded
    assert pad_vocab(GPTConfig(vocab_size=128), 64).vocab_size == 128, "an exact multiple must stay as it is"
    with pytest.raises(ValueError, match="multiple must be a positive integer"):
        pad_vocab(GPTConfig(), 0)


def test_speed_up_carries_the_stream_in_bf16_only_under_bf16_autocast_and_keeps_fp32_results():
    from gpt2_lib.speed import speed_up

    torch.manual_seed(0)
    plain = GPT(GPTConfig(vocab_size=64, block_size=16, n_layer=2, n_head=2, n_embd=32))
    fast = GPT(plain.config)
    fast.load_state_dict(plain.state_dict())
    speed_up(speed_up(fast))  # twice: the second changes nothing
    seen = []
    fast.transformer.h[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].dtype))
    x = torch.randint(0, 64, (2, 17))
    assert torch.equal(fast(x[:, :-1], x[:, 1:])[1], plain(x[:, :-1], x[:, 1:])[1]), "fp32 results must not move"
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, loss_fast = fast(x[:, :-1], x[:, 1:])
        _, loss_plain = plain(x[:, :-1], x[:, 1:])
    assert seen == [torch.float32, torch.bfloat16], f"the stream entering block 0: {seen}"
    assert abs(loss_fast.item() - loss_plain.item()) < 1e-2, (loss_fast.item(), loss_plain.item())
    assert "loss" not in vars(plain) and len(fast.transformer.drop._forward_hooks) == 1
