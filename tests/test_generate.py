"""Chapter 6's generation: the KV cache changes nothing but speed, sampling is reproducible, bad settings are errors,
and prompts of different lengths share a batch as if each ran alone."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from gpt2_lib.decoding import decode_weights, forward_with_cache
from gpt2_lib.generate import _compiled_step, filter_logits, generate, left_pad, stream
from gpt2_lib.kv_cache import KVCache, skip_padding
from gpt2_lib.model import GPT, GPTConfig

CONFIG = GPTConfig(vocab_size=500, block_size=160, n_layer=3, n_head=4, n_embd=64)


@pytest.fixture(scope="module")
def model() -> GPT:
    """A small random GPT whose greedy choices are clear-cut (scaled embedding), so float rounding cannot flip them."""
    torch.manual_seed(0)
    m = GPT(CONFIG).eval()
    with torch.no_grad():
        m.transformer.wte.weight.mul_(8)
    return m


def hf_twin(model: GPT, eos_token_id: int | None = None) -> GPT2LMHeadModel:
    """transformers' GPT-2 with our model's weights, through to_hf_state_dict."""
    c = model.config
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=c.vocab_size, n_positions=c.block_size, n_embd=c.n_embd,
                                    n_layer=c.n_layer, n_head=c.n_head, bos_token_id=None, eos_token_id=None)).eval()
    hf.load_state_dict(model.to_hf_state_dict())
    hf.generation_config.eos_token_id = eos_token_id  # None: exactly as many tokens as asked
    return hf


def hf_greedy(model: GPT, idx: torch.Tensor, n: int) -> torch.Tensor:
    hf = hf_twin(model)
    with torch.no_grad():
        return hf.generate(idx, attention_mask=torch.ones_like(idx), max_new_tokens=n, do_sample=False, pad_token_id=0)


def prompts(B: int, T: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, CONFIG.vocab_size, (B, T), generator=torch.Generator().manual_seed(seed))


def test_greedy_with_cache_equals_without_and_equals_transformers(model):
    idx = prompts(3, 7)
    cached = generate(model, idx, 120, temperature=0)
    uncached = generate(model, idx, 120, temperature=0, use_cache=False)
    assert torch.equal(cached, uncached), "the KV cache changed the greedy output"
    for row in range(3):  # transformers one prompt at a time: no padding questions
        reference = hf_greedy(model, idx[row : row + 1], 120)
        assert torch.equal(cached[row : row + 1], reference), f"prompt {row} differs from transformers' greedy output"


def test_a_prompt_that_runs_to_the_end_of_the_context(model):
    idx = prompts(1, CONFIG.block_size - 6, seed=1)
    out = generate(model, idx, 6, temperature=0)
    assert out.shape == (1, CONFIG.block_size)
    assert torch.equal(out, generate(model, idx, 6, temperature=0, use_cache=False))
    assert torch.equal(out, hf_greedy(model, idx, 6))


def test_cache_is_fresh_on_every_call(model):
    a, b = prompts(1, 5, seed=2), prompts(1, 9, seed=3)
    first = generate(model, a, 30, temperature=0)
    generate(model, b, 30, temperature=0)  # a different prompt in between must not leak into the next call
    assert torch.equal(first, generate(model, a, 30, temperature=0))


def test_cached_forward_equals_the_full_forward_position_by_position(model):
    idx = prompts(2, 40, seed=4)
    with torch.no_grad():
        full, _ = model(idx)
        cache = KVCache.allocate(CONFIG, 2, torch.device("cpu"), torch.float32)
        w = decode_weights(model)
        steps = [forward_with_cache(model, w, idx[:, :8], cache)]
        steps += [forward_with_cache(model, w, idx[:, t : t + 1], cache) for t in range(8, 40)]
    assert torch.allclose(torch.stack(steps, 1), full[:, 7:], atol=1e-4)


def test_static_shape_step_equals_the_dynamic_step(model):
    idx = prompts(2, 20, seed=5)
    with torch.no_grad():
        w = decode_weights(model)
        dyn = KVCache.allocate(CONFIG, 2, torch.device("cpu"), torch.float32)
        sta = KVCache.allocate(CONFIG, 2, torch.device("cpu"), torch.float32, zeroed=True)
        forward_with_cache(model, w, idx[:, :4], dyn)
        forward_with_cache(model, w, idx[:, :4], sta)
        for t in range(4, 20):
            a = forward_with_cache(model, w, idx[:, t : t + 1], dyn)
            b = forward_with_cache(model, w, idx[:, t : t + 1], sta, pos=torch.tensor(sta.pos))
            sta.pos += 1
            assert torch.allclose(a, b, atol=1e-4), f"position {t}"


def test_static_shape_step_equals_the_dynamic_step_for_left_padded_prompts(model):
    idx, pad = left_pad([[3, 1, 4], [1, 5, 9, 2, 6, 5, 3]])  # the first row has 4 padding slots
    with torch.no_grad():
        w = decode_weights(model)
        dyn = KVCache.allocate(CONFIG, 2, torch.device("cpu"), torch.float32, pad=pad)
        sta = KVCache.allocate(CONFIG, 2, torch.device("cpu"), torch.float32, zeroed=True, pad=pad)
        forward_with_cache(model, w, idx, dyn)
        forward_with_cache(model, w, idx, sta)
        for t in range(8):
            token = torch.tensor([[10 + t], [20 + t]])
            a = forward_with_cache(model, w, token, dyn)
            b = forward_with_cache(model, w, token, sta, pos=torch.tensor(sta.pos))  # the CUDA graph's step
            sta.pos += 1
            assert torch.allclose(a, b, atol=1e-4), f"step {t}: the static step differs by {(a - b).abs().max()}"


def test_decode_weights_follow_the_model_after_a_training_step():
    torch.manual_seed(0)
    m = GPT(CONFIG)
    idx = prompts(1, 6, seed=6)
    generate(m, idx, 5, temperature=0)  # decodes once before the weights change
    opt = torch.optim.AdamW(m.parameters(), lr=0.05)
    _, loss = m(idx[:, :-1], idx[:, 1:])
    loss.backward()
    opt.step()
    assert torch.equal(generate(m, idx, 20, temperature=0), generate(m, idx, 20, temperature=0, use_cache=False))


def test_seeded_sampling_is_reproducible(model):
    idx = prompts(2, 4, seed=7)
    run = lambda seed, **kw: generate(model, idx, 40, temperature=1.0, generator=torch.Generator().manual_seed(seed), **kw)  # noqa: E731
    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))
    assert torch.equal(run(0, top_k=20, top_p=0.9), run(0, top_k=20, top_p=0.9))


def test_top_k_of_one_and_a_tiny_top_p_are_greedy(model):
    idx = prompts(2, 4, seed=8)
    greedy = generate(model, idx, 25, temperature=0)
    assert torch.equal(generate(model, idx, 25, top_k=1, generator=torch.Generator().manual_seed(0)), greedy)
    assert torch.equal(generate(model, idx, 25, top_p=1e-9, generator=torch.Generator().manual_seed(0)), greedy)


def test_filters_keep_what_they_promise():
    logits = torch.log(torch.tensor([[0.5, 0.2, 0.15, 0.1, 0.05]]))
    assert torch.isfinite(filter_logits(logits, top_k=2)).sum() == 2
    assert torch.isfinite(filter_logits(logits, top_p=0.7)).tolist() == [[True, True, False, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.71)).tolist() == [[True, True, True, False, False]]
    assert torch.allclose(filter_logits(logits, temperature=2.0), logits / 2)


def test_a_row_stops_at_the_stop_token_and_the_batch_when_all_have():
    torch.manual_seed(0)
    m = GPT(CONFIG).eval()
    idx = prompts(2, 3, seed=9)
    free = generate(m, idx, 60, temperature=0)
    eos = int(free[0, 3 + 4])  # the token row 0 produces at its fifth step becomes the stop token
    out = generate(m, idx, 60, temperature=0, eos_token_id=eos)
    stops = [int((r[3:] == eos).nonzero()[0]) if (r[3:] == eos).any() else None for r in free]  # greedy: as free
    assert stops[0] is not None and stops[0] <= 4, f"row 0 produces the stop token by step 4; stops={stops}"
    length = 3 + (max(stops) + 1 if None not in stops else 60)  # generation ends when every row has stopped
    assert out.shape[1] == length, f"{out.shape[1] - 3} new tokens, expected {length - 3} (stops: {stops})"
    for r, stop in enumerate(stops):
        end = length if stop is None else 3 + stop + 1
        assert torch.equal(out[r, :end], free[r, :end]), f"row {r} differs from the free run before its stop"
        assert (out[r, end:] == eos).all(), f"row {r}: a finished row must keep repeating its stop token"


def test_stream_yields_what_generate_returns_and_leaves_the_caller_alone(model):
    idx = prompts(2, 5, seed=10)
    model.train()
    tokens = []
    for t in stream(model, idx, 15, temperature=0):
        assert torch.is_grad_enabled(), "the caller's grad mode must not change between yields"
        tokens.append(t)
    assert model.training, "the model's training mode must be restored"
    model.eval()
    assert torch.equal(torch.cat([idx, torch.stack(tokens, 1)], 1), generate(model, idx, 15, temperature=0))


@pytest.mark.parametrize("kwargs, match", [
    ({"temperature": -0.1}, "temperature must be >= 0"),
    ({"top_k": 0}, "top_k must be at least 1"),
    ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
    ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
    ({"max_new_tokens": 155}, r"= 165 exceeds the model's block_size of 160 by 5; .* at most 150 new tokens"),
])
def test_impossible_settings_are_errors_that_say_what_to_do(model, kwargs, match):
    kwargs = {"max_new_tokens": 5} | kwargs
    with pytest.raises(ValueError, match=match):
        generate(model, prompts(1, 10), **kwargs)


def test_an_empty_prompt_is_an_error(model):
    with pytest.raises(ValueError, match="at least one token"):
        generate(model, torch.zeros(1, 0, dtype=torch.long), 5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graph_generation_equals_eager_generation(model):
    m = GPT(CONFIG).cuda().eval()
    m.load_state_dict(model.state_dict())
    idx = prompts(2, 7).cuda()
    graphed = generate(m, idx, 100, temperature=0)
    eager = generate(m, idx, 100, temperature=0, cuda_graph=False)
    assert torch.equal(graphed, eager)
    assert torch.equal(graphed.cpu(), generate(model, idx.cpu(), 100, temperature=0))


@pytest.mark.parametrize("temperature", [float("nan"), float("inf"), -float("inf")])
def test_a_temperature_that_is_not_a_finite_number_is_an_error(model, temperature):
    with pytest.raises(ValueError, match="temperature must be >= 0 and finite"):
        generate(model, prompts(1, 10), 5, temperature=temperature)


def test_a_vanishing_temperature_samples_the_greedy_token_not_nan(model):
    idx = prompts(2, 10, seed=11)
    greedy = generate(model, idx, 20, temperature=0)
    for temperature in (2e-38, 1e-40, 1e-300):  # above, near and below float32's smallest normal number
        out = generate(model, idx, 20, temperature=temperature, generator=torch.Generator().manual_seed(0))
        assert torch.equal(out, greedy), f"temperature {temperature} should sample the greedy tokens"


def test_a_prompt_that_fills_the_context_is_told_to_shrink_not_to_ask_for_zero_tokens(model):
    with pytest.raises(ValueError) as err:
        generate(model, prompts(1, CONFIG.block_size), 5)
    message = str(err.value)
    assert "at most 0 new tokens" not in message and f"shorten it to at most {CONFIG.block_size - 5}" in message


@pytest.mark.parametrize("bad, match", [
    (lambda idx: idx.clone().fill_(CONFIG.vocab_size), r"token ids must be in \[0, 499\]"),
    (lambda idx: idx.clone().fill_(-1), r"token ids must be in \[0, 499\]"),
    (lambda idx: idx.float(), "integer token ids"),
    (lambda idx: idx.bool(), "integer token ids"),
    (lambda idx: idx.to(torch.uint8), "integer token ids"),
    (lambda idx: idx.to(torch.int16), "integer token ids"),
])
@pytest.mark.parametrize("use_cache", [True, False])
def test_bad_ids_are_the_same_clear_error_with_or_without_the_cache(model, bad, match, use_cache):
    with pytest.raises(ValueError, match=match):
        generate(model, bad(prompts(1, 10)), 5, temperature=0, use_cache=use_cache)


def test_the_model_rejects_the_integer_dtypes_its_embedding_cannot_look_up(model):
    idx = prompts(1, 10)
    assert torch.equal(model(idx.int())[0], model(idx)[0])  # int32 works in the lookup, so it is accepted
    for dtype in (torch.uint8, torch.int16, torch.int8):
        with pytest.raises(ValueError, match="integer token ids"):
            model(idx.to(dtype))


def test_stream_checks_its_settings_at_the_call_before_any_token_is_asked_for(model):
    with pytest.raises(ValueError, match="top_k"):
        stream(model, prompts(1, 10), 5, top_k=0)  # no next(): the call itself must refuse


def test_decode_weights_are_views_of_the_models_storage_and_nothing_stays_on_the_model():
    torch.manual_seed(0)
    m = GPT(CONFIG).eval()
    w = decode_weights(m)
    pairs = [(w.head, m.lm_head.weight), (w.ln_f[0], m.transformer.ln_f.weight)]
    for layer, block in zip(w.layers, m.transformer.h):
        pairs += [(layer.c_attn[0], block.attn.c_attn.weight), (layer.attn_proj[0], block.attn.c_proj.weight),
                  (layer.c_fc[0], block.mlp.c_fc.weight), (layer.mlp_proj[0], block.mlp.c_proj.weight)]
    for view, weight in pairs:  # no copy to make per call, none to go stale (Appendix B, section 1)
        assert view.data_ptr() == weight.data_ptr() and torch.equal(view.t() if view.dim() == 2 else view, weight)
    generate(m, prompts(1, 5), 5, temperature=0)
    assert not any(torch.is_tensor(v) for v in vars(m).values() if not isinstance(v, dict)), "nothing kept on the model"


# Prompts of different lengths in one batch: left padding, a mask, positions that skip the padding.

TINY = GPTConfig(vocab_size=97, block_size=64, n_layer=2, n_head=2, n_embd=32)
LENGTHS = (1, 5, 12, 3, 8)  # the longest is 12: every other row has some left padding, one of them 11 slots
PAD = 7  # a pad id that is a real token: the mask, not the id, must keep it out


def context_model(config: GPTConfig) -> GPT:
    """A random GPT whose greedy tokens hang on positions and attention (both scaled up), so that a miscounted
    position or a padding slot read changes them; the scaled embedding keeps each choice clear-cut."""
    torch.manual_seed(0)
    m = GPT(config).eval()
    with torch.no_grad():
        m.transformer.wte.weight.mul_(4)
        m.transformer.wpe.weight.mul_(8)
        for block in m.transformer.h:
            block.attn.c_attn.weight.mul_(4)
    return m


@pytest.fixture(scope="module", params=[TINY, CONFIG], ids=["vocab97", "vocab500"])
def ctx_model(request) -> GPT:
    return context_model(request.param)


def ragged(config: GPTConfig, lengths: tuple[int, ...] = LENGTHS, seed: int = 12) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, config.vocab_size, (n,), generator=g).tolist() for n in lengths]


def hf_left_padded(model: GPT, prompts: list[list[int]], n: int, eos_token_id: int | None = None) -> torch.Tensor:
    """transformers' batched greedy generate, on the input_ids and attention_mask its tokenizer makes with
    padding_side="left"; a finished row gets pad_token_id, which is the stop token here, as GPT-2 users set it."""
    T = max(map(len, prompts))
    pad = PAD if eos_token_id is None else eos_token_id
    ids = torch.tensor([[pad] * (T - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (T - len(p)) + [1] * len(p) for p in prompts])
    with torch.no_grad():
        return hf_twin(model, eos_token_id).generate(ids, attention_mask=mask, max_new_tokens=n, do_sample=False,
                                                     pad_token_id=pad)


@pytest.mark.parametrize("use_cache", [True, False], ids=["cached", "uncached"])
def test_each_row_of_a_ragged_batch_equals_its_prompt_generated_alone(ctx_model, use_cache):
    prompts, T = ragged(ctx_model.config), max(LENGTHS)
    out = generate(ctx_model, prompts, 24, temperature=0, use_cache=use_cache, pad_token_id=PAD)
    assert out.shape == (len(prompts), T + 24)
    for i, p in enumerate(prompts):
        alone = generate(ctx_model, torch.tensor([p]), 24, temperature=0, use_cache=use_cache)[0]
        assert (out[i, : T - len(p)] == PAD).all(), f"prompt {i}: its left padding must hold pad_token_id"
        got = out[i, T - len(p) :]
        assert torch.equal(got, alone), (f"prompt {i} ({len(p)} tokens) differs from its solo generation from new "
                                         f"token {int((got != alone).long().argmax()) - len(p)} on")


def test_a_ragged_batch_equals_transformers_left_padded_generate(ctx_model):
    prompts = ragged(ctx_model.config)
    reference = hf_left_padded(ctx_model, prompts, 24)
    for use_cache in (True, False):
        out = generate(ctx_model, prompts, 24, temperature=0, use_cache=use_cache, pad_token_id=PAD)
        rows = [i for i in range(len(prompts)) if not torch.equal(out[i], reference[i])]
        assert not rows, f"use_cache={use_cache}: rows {rows} differ from transformers' left-padded batch"


@pytest.mark.parametrize("use_cache", [True, False], ids=["cached", "uncached"])
def test_a_row_of_a_ragged_batch_stops_at_the_stop_token_while_the_others_go_on(ctx_model, use_cache):
    prompts, T, n = ragged(ctx_model.config), max(LENGTHS), 30
    free = generate(ctx_model, prompts, n, temperature=0, use_cache=use_cache)[:, T:]  # (B, n) with no stop token
    # the stop token: the first token the shortest prompt makes that some other row never makes
    eos = next(int(t) for t in free[0] if not all(int(t) in row.tolist() for row in free))
    expected = free.clone()
    for row in expected:  # up to and including its first stop token; the stop token repeated after it
        if (row == eos).any():
            row[int((row == eos).nonzero()[0]) :] = eos
    assert not (expected == eos).any(dim=1).all(), "the test needs a row that never stops"
    out = generate(ctx_model, prompts, n, temperature=0, use_cache=use_cache, eos_token_id=eos, pad_token_id=eos)
    assert torch.equal(out[:, T:], expected), "a stopped row must repeat its stop token, the others must go on"
    assert torch.equal(out, hf_left_padded(ctx_model, prompts, n, eos_token_id=eos)), "differs from transformers"


def test_seeded_sampling_of_a_ragged_batch_is_reproducible(ctx_model):
    prompts = ragged(ctx_model.config)
    run = lambda seed: generate(ctx_model, prompts, 30, temperature=1.0, top_k=20,  # noqa: E731
                                generator=torch.Generator().manual_seed(seed))
    assert torch.equal(run(0), run(0)), "the same seed must give the same samples"
    assert not torch.equal(run(0), run(1)), "another seed must give other samples"


def test_prompts_of_one_length_take_the_unpadded_path_with_no_mask(model, monkeypatch):
    import gpt2_lib.decoding as D
    import gpt2_lib.generate as G

    def no_mask(*args):
        raise AssertionError("prompts of one length must not build a padding mask")

    monkeypatch.setattr(G, "skip_padding", no_mask)  # the uncached path's
    monkeypatch.setattr(D, "skip_padding", no_mask)  # the cached path's
    idx = prompts(3, 6, seed=13)
    for use_cache in (True, False):
        assert torch.equal(generate(model, idx.tolist(), 20, temperature=0, use_cache=use_cache),
                           generate(model, idx, 20, temperature=0, use_cache=use_cache))
    assert left_pad(idx.tolist())[1] is None


def test_skip_padding_counts_positions_from_each_rows_first_token_and_hides_the_padding():
    positions, mask = skip_padding(torch.tensor([0, 2]), torch.arange(4), 4)
    assert positions.tolist() == [[0, 1, 2, 3], [0, 0, 0, 1]]
    assert torch.equal(mask[0, 0], torch.ones(4, 4, dtype=torch.bool).tril()), "no padding: the causal mask"
    assert mask[1, 0].int().tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]], \
        "a padded row: real tokens read from the first real slot, a padding slot only itself"


@pytest.mark.parametrize("bad, match", [
    ([], "no prompts"),
    ([[1, 2], []], "prompt 1 is empty"),
    ([[1, 2], [3, CONFIG.vocab_size]], r"token ids must be in \[0, 499\]"),
    ([[-1, 2], [3]], r"token ids must be in \[0, 499\]"),
    ([1, 2, 3], r"prompt 0 must be a list of token ids, got 1; for one prompt, pass \[ids\]"),
    ([[1.0, 2.0], [3.0]], "prompt 0 must hold integer token ids"),
])
@pytest.mark.parametrize("use_cache", [True, False], ids=["cached", "uncached"])
def test_a_bad_list_of_prompts_is_a_clear_error_at_the_call(model, bad, match, use_cache):
    with pytest.raises(ValueError, match=match):
        stream(model, bad, 5, temperature=0, use_cache=use_cache)  # no next(): the call itself must refuse
    with pytest.raises(ValueError, match=match):
        generate(model, bad, 5, temperature=0, use_cache=use_cache)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graph_generation_of_a_ragged_batch_equals_eager_and_the_cpu():
    m = context_model(TINY)
    prompts = ragged(TINY)
    on_cpu = generate(m, prompts, 40, temperature=0)
    m = m.cuda()
    graphed = generate(m, prompts, 40, temperature=0)
    assert torch.equal(graphed, generate(m, prompts, 40, temperature=0, cuda_graph=False))
    assert torch.equal(graphed.cpu(), on_cpu)


@pytest.mark.parametrize("settings", [{}, {"use_cache": False}, {"cuda_graph": False}], ids=["cpu", "no-cache", "no-graph"])
def test_compile_without_a_cuda_graph_to_record_it_in_is_a_clear_error(model, settings):
    m = copy.deepcopy(model).cuda() if torch.cuda.is_available() and settings else model  # else: a CPU model
    with pytest.raises(ValueError, match="compile=True needs use_cache and cuda_graph"):
        stream(m, torch.zeros(1, 3, dtype=torch.long, device=next(m.parameters()).device), 5, compile=True, **settings)


def test_the_compiled_static_step_writes_each_layers_cache_in_place_as_the_eager_step_does():
    """The step generate(compile=True) records, compiled here on the CPU: the same logits and the same cache."""
    m = context_model(TINY)
    w = decode_weights(m)
    prompts, pad = left_pad(ragged(TINY), device=torch.device("cpu"))
    caches = [KVCache.allocate(TINY, len(prompts), torch.device("cpu"), torch.float32, zeroed=True, pad=pad)
              for _ in range(2)]
    compiled = _compiled_step()  # what CUDAGraphStep(compile=True) records
    with torch.no_grad():
        for cache in caches:
            forward_with_cache(m, w, prompts, cache)
        token = torch.full((len(prompts), 1), 5)
        for _ in range(4):
            logits = [f(m, w, token, c, torch.tensor(c.pos)) for f, c in zip((forward_with_cache, compiled), caches)]
            for c in caches:
                c.pos += 1
            torch.testing.assert_close(logits[1], logits[0])
            token = logits[0].argmax(-1, keepdim=True)
    for eager, comp in zip(*(c.kv for c in caches)):
        torch.testing.assert_close(comp, eager)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_compiled_graphed_step_generates_what_the_eager_step_does():
    m = context_model(TINY).cuda()
    prompts = ragged(TINY)
    for _ in range(2):  # the second call reuses what the first compiled
        compiled = generate(m, prompts, 40, temperature=0, compile=True)
        assert torch.equal(compiled, generate(m, prompts, 40, temperature=0, cuda_graph=False))
