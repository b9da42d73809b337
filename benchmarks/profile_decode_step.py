"""Where one batch-1 decoding step of GPT-2 124M spends its time on a GPU, and what variants of the step save.

Times, in this one process, variants of the step, each but one recorded in a CUDA graph and replayed once per token:
- the library's step (chapter 6's CUDAGraphStep), the same step launched from Python, and compiled by torch.compile;
- a cache of separate per-layer key and value tensors, with SDPA or with attention written as two matrix products
  around a softmax (which a compiler can fuse, where SDPA stays one library kernel);
- that step compiled by torch.compile: default, with coordinate-descent tuning, and max-autotune.
Each variant's greedy tokens and first logits are compared with the library step's. Then lists the kernels of one
token of some variants (--profile) with their GPU time, to set against the step's wall time.

Random weights (speed does not depend on their values), bf16.

    python benchmarks/profile_decode_step.py --out gpt2_lib/results/decode_profile.jsonl
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import time
import traceback
from collections import defaultdict

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from gpt2_lib.decoding import DecodeWeights, decode_weights, forward_with_cache
from gpt2_lib.device import describe_machine
from gpt2_lib.generate import CUDAGraphStep
from gpt2_lib.kv_cache import KVCache
from gpt2_lib.model import GPT, GPTConfig

PROFILED_STEPS = 20  # tokens per profile


def layer_caches(cache: KVCache) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The cache as separate per-layer key and value tensors (B, nh, S, hs), copied from the library's."""
    return [kv[0].clone() for kv in cache.kv], [kv[1].clone() for kv in cache.kv]


def variant_step(model: GPT, weights: DecodeWeights, ks: list[torch.Tensor], vs: list[torch.Tensor], matmul_attention: bool):
    """One token per row at slot `pos` (a 0-d tensor), over per-layer caches: logits (B, V)."""
    h, C, nh, eps = model.transformer, model.config.n_embd, model.config.n_head, model.transformer.ln_f.eps
    hs = C // nh

    def step(token: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        B = token.size(0)
        S = ks[0].size(2)
        visible = torch.arange(S, device=token.device) <= pos  # (S,)
        x = h.wte(token[:, 0]) + h.wpe(pos.view(1))  # (B, C)
        for i, w in enumerate(weights.layers):
            a = F.layer_norm(x, (C,), *w.ln_1, eps)
            q, k, v = torch.addmm(w.c_attn[1], a, w.c_attn[0]).view(B, 3, nh, 1, hs).unbind(1)
            ks[i].index_copy_(2, pos.view(1), k)
            vs[i].index_copy_(2, pos.view(1), v)
            if matmul_attention:  # (B, nh, 1, S) scores, masked, softmax in float32, then the values
                s = (q @ ks[i].transpose(-1, -2)).float() * hs ** -0.5
                p = s.masked_fill(~visible, float("-inf")).softmax(-1).to(q.dtype)
                y = p @ vs[i]
            else:
                y = F.scaled_dot_product_attention(q, ks[i], vs[i], attn_mask=visible.view(1, S))
            x = torch.addmm(x, y.reshape(B, C), w.attn_proj[0]).add_(w.attn_proj[1])
            m = F.gelu(torch.addmm(w.c_fc[1], F.layer_norm(x, (C,), *w.ln_2, eps), w.c_fc[0]), approximate="tanh")
            x = torch.addmm(x, m, w.mlp_proj[0]).add_(w.mlp_proj[1])
        return F.layer_norm(x, (C,), *weights.ln_f, eps) @ weights.head

    return step


class Graphed:
    """fn(token (B, 1), pos 0-d) recorded as a CUDA graph over static inputs, replayed per call."""

    def __init__(self, fn, batch: int, pos: int, device: torch.device):
        self.token = torch.zeros(batch, 1, dtype=torch.long, device=device)
        self.pos = torch.tensor(pos, device=device)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up (and compilation) outside the graph
                fn(self.token, self.pos)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.logits = fn(self.token, self.pos)

    def __call__(self, token: torch.Tensor, pos: int) -> torch.Tensor:
        self.token.copy_(token[:, None])
        self.pos.fill_(pos)
        self.graph.replay()
        return self.logits


def at_slot(graph_step: CUDAGraphStep):
    """The library's recorded step as step(token (B,), slot): logits (B, V)."""

    def step(token: torch.Tensor, slot: int) -> torch.Tensor:
        graph_step.cache.pos = slot
        return graph_step(token)

    return step


def kernels(prof, n_steps: int) -> tuple[list[tuple[str, float, float]], float, float]:
    """Per-step (name, count, microseconds) of every GPU kernel in a profile, the kernel count and their total time."""
    per = defaultdict(lambda: [0, 0.0])
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            per[e.name][0] += 1
            per[e.name][1] += e.device_time_total if hasattr(e, "device_time_total") else e.cuda_time_total
    rows = sorted(((n, c / n_steps, t / n_steps) for n, (c, t) in per.items()), key=lambda r: -r[2])
    return rows, sum(r[1] for r in rows), sum(r[2] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=256, help="steps per timing")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--variants", nargs="+",
                        default=["library", "library, no graph", "library, compiled", "per-layer, sdpa", "matmul",
                                 "compiled, sdpa", "compiled", "compiled, coordinate descent", "max-autotune"])
    parser.add_argument("--profile", nargs="*", default=["library", "library, compiled", "compiled"],
                        help="variants whose kernels to list (recorded ones only)")
    parser.add_argument("--out", default=None, help="append the JSON lines to this file")
    args = parser.parse_args()

    device, dtype = torch.device("cuda"), torch.bfloat16
    torch.manual_seed(0)
    model = GPT(GPTConfig.from_name("gpt2"))
    with torch.no_grad():
        model.transformer.wte.weight.mul_(8.0)  # clear-cut greedy choices, as in generate_speed.py
    model = model.to(device, dtype).eval()
    weights = decode_weights(model)
    prompt = torch.randint(0, model.config.vocab_size, (1, 16), generator=torch.Generator().manual_seed(0)).to(device)
    common = {"machine": describe_machine(device), "date": datetime.date.today().isoformat(),
              "torch": torch.__version__, "setting": "gpt2 bfloat16 batch 1, prompt 16"}

    def emit(line: dict) -> None:
        line = {**common, **line}
        print(json.dumps(line), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(line) + "\n")

    torch.set_grad_enabled(False)
    cache = KVCache.allocate(model.config, 1, device, dtype, zeroed=True)
    first = forward_with_cache(model, weights, prompt, cache)  # the prompt: 16 slots filled
    start = cache.pos
    snapshot = [t.clone() for t in cache.kv]

    def layout(variant: str) -> str:  # variant_step keeps its own key and value tensors
        return "one tensor per layer" if variant.startswith("library") else "separate key and value tensors per layer"

    def restore() -> None:
        for t, saved in zip(cache.kv, snapshot):
            t.copy_(saved)

    def fresh() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        restore()
        cache.pos = start
        return layer_caches(cache)

    steps = {}
    for v in args.variants:
        t0 = time.perf_counter()
        try:
            if v.startswith("library"):
                restore()
                cache.pos = start
                if v == "library, no graph":
                    pos_t = torch.tensor(start, device=device)
                    steps[v] = lambda token, p: forward_with_cache(model, weights, token[:, None], cache,
                                                                   pos_t.fill_(p))
                else:  # what generate(..., compile=v == "library, compiled") replays
                    steps[v] = at_slot(CUDAGraphStep(model, weights, cache, compile=v == "library, compiled"))
                continue
            else:
                ks, vs = fresh()
                fn = variant_step(model, weights, ks, vs, matmul_attention="sdpa" not in v)
                if v.startswith("compiled"):
                    options = {"coordinate_descent_tuning": True} if "coordinate" in v else None
                    fn = torch.compile(fn, fullgraph=True, options=options)
                elif v == "max-autotune":
                    fn = torch.compile(fn, fullgraph=True, mode="max-autotune-no-cudagraphs")
            steps[v] = Graphed(fn, 1, start, device)
        except Exception:
            traceback.print_exc()
            continue
        finally:
            print(f"{v}: ready in {time.perf_counter() - t0:.1f} s", flush=True)

    for v, step in steps.items():  # every kernel of one token, as the GPU runs it
        if v == "library, no graph" or v not in args.profile:
            continue
        try:
            t = first.argmax(-1)
            step(t, start)
            torch.cuda.synchronize()
            with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                for i in range(PROFILED_STEPS):
                    step(t, start + i)
                torch.cuda.synchronize()
            rows, count, total = kernels(prof, PROFILED_STEPS)
            emit({"profile": v, "kv_cache": layout(v), "kernels_per_token": round(count, 1), "kernel_us_per_token": round(total, 1),
                  "kernels": [[r[0][:100], round(r[1], 1), round(r[2], 1)] for r in rows]})
        except Exception:
            traceback.print_exc()

    reference_tokens = None
    times = defaultdict(list)
    results = {}
    for v, step in steps.items():  # greedy tokens and the first step's logits against the library's
        logits, toks = first, []
        for i in range(64):
            t = logits.argmax(-1)
            toks.append(int(t))
            logits = step(t, start + i)
        if reference_tokens is None:
            reference_tokens, reference_logits = toks, step(first.argmax(-1), start).float().clone()
        same = next((i for i, (a, b) in enumerate(zip(toks, reference_tokens)) if a != b), len(toks))
        err = (step(first.argmax(-1), start).float() - reference_logits).abs().max() / reference_logits.abs().max()
        results[v] = {"same_greedy_tokens": same, "of": len(toks), "max_logit_diff_relative": round(err.item(), 5)}
    for _ in range(args.repeat):
        for v, step in steps.items():
            t = first.argmax(-1)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for i in range(args.tokens):
                t = step(t, start + i).argmax(-1)
            torch.cuda.synchronize()
            times[v].append(time.perf_counter() - t0)
    for v in steps:
        s = statistics.median(times[v]) / args.tokens
        emit({"variant": v, "kv_cache": layout(v), "ms_per_token": round(s * 1e3, 4), "tokens_per_s": round(1 / s, 1), **results[v]})
    base = statistics.median(times["library"]) if "library" in times else None
    if base:
        best = min(times, key=lambda v: statistics.median(times[v]))
        emit({"ratio": round(base / statistics.median(times[best]), 3), "of": f"{best} / library"})


if __name__ == "__main__":
    main()
