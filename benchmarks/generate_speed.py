"""gpt2_lib's generate against transformers' GPT2LMHeadModel.generate: same weights, same prompts, greedy.

Both run in this one process on the same device, on the same batch of prompts (of one length); the generated tokens
are asserted identical before anything is timed. Prints, for each batch size, one JSON line per measurement and one
with the ratio; --out appends them to a results file. tokens_per_s counts the new tokens of every row of the batch;
ms_per_token is the time of one step, which gives every row one token.

    python benchmarks/generate_speed.py                        # CPU: fp32, 128 new tokens, batch 1
    python benchmarks/generate_speed.py --device cuda          # GPU: bf16, 256 new tokens, CUDA graphs
    python benchmarks/generate_speed.py --batch 1 8 64         # one measurement per batch size
    python benchmarks/generate_speed.py --device cuda --static   # also transformers' static cache (minutes)
    python benchmarks/generate_speed.py --device cuda --compiled   # also ours with generate(compile=True)

On the CPU at batch 1 it also times the step's matrix products alone, every weight read once per token in the step's
order and nothing else: the memory-bound floor of a decoder that reads the fp32 weights with PyTorch's products. Two
such rows, for nn.Linear's (out, in) storage (ours, read as views) and for (in, out) storage (transformers' Conv1D),
and a ratio line with transformers' time over the lower floor: the most such a decoder could reach against it here.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import time
import warnings

import torch

from gpt2_lib.decoding import decode_weights
from gpt2_lib.device import describe_machine
from gpt2_lib.generate import generate
from gpt2_lib.model import GPT, GPTConfig

warnings.filterwarnings("ignore", message="IProgress not found")


def hf_twin(model: GPT):
    """transformers' GPT-2 with the same weights (the benchmark's baseline)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    c = model.config
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=c.vocab_size, n_positions=c.block_size, n_embd=c.n_embd,
                                    n_layer=c.n_layer, n_head=c.n_head))
    hf.load_state_dict(model.to_hf_state_dict())
    hf.generation_config.eos_token_id = None  # generate exactly as many tokens as asked, like ours without a stop token
    return hf


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fns: dict, device: torch.device, repeat: int) -> tuple[dict, dict]:
    """Warm each fn up once, then run them in turns `repeat` times (so a busy machine slows all alike).

    Returns each fn's output and the seconds of each of its timed runs.
    """
    outs = {name: fn() for name, fn in fns.items()}
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            sync(device)
            t0 = time.perf_counter()
            outs[name] = fn()
            sync(device)
            times[name].append(time.perf_counter() - t0)
    return outs, times


def products_alone(model: GPT, n_new: int, in_out: bool):
    """n_new steps of the decoding step's matrix products and nothing else: each of the 49 matrices times one row.

    in_out: (in, out) copies, made here, outside the timing; else decode_weights' (in, out) views of the (out, in)
    storage, as generate reads them.
    """
    mats = decode_weights(model).matrices()
    if in_out:
        mats = [m.contiguous() for m in mats]
    rows = [torch.zeros(1, m.shape[0], dtype=m.dtype, device=m.device) for m in mats]

    def run() -> None:
        with torch.no_grad():
            for _ in range(n_new):
                for x, m in zip(rows, mats):
                    x @ m

    return run


def measure(ours: GPT, hf, batch: int, n_new: int, args: argparse.Namespace, device: torch.device,
            dtype: torch.dtype) -> list[dict]:
    """Both generates on one batch of random prompts: a JSON line for each, then one with the ratio."""
    prompt = torch.randint(0, ours.config.vocab_size, (batch, args.prompt_tokens),
                           generator=torch.Generator().manual_seed(0)).to(device)

    def run_hf() -> torch.Tensor:
        with torch.no_grad():
            return hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n_new,
                               do_sample=False, pad_token_id=0)

    def run_ours() -> torch.Tensor:
        return generate(ours, prompt, n_new, temperature=0)

    def run_hf_static() -> torch.Tensor:  # transformers' fastest: a static cache, its forward compiled
        with torch.no_grad():
            return hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n_new,
                               do_sample=False, pad_token_id=0, cache_implementation="static")

    fns = {"transformers generate": run_hf, "gpt2_lib generate": run_ours}
    if device.type == "cuda":  # what the CUDA graph adds, on the same weights
        fns["gpt2_lib generate, no CUDA graph"] = lambda: generate(ours, prompt, n_new, temperature=0, cuda_graph=False)
        if args.static:
            fns["transformers generate, static cache"] = run_hf_static
        if args.compiled:
            fns["gpt2_lib generate, compiled step"] = lambda: generate(ours, prompt, n_new, temperature=0, compile=True)
    floors = {}  # the memory-bound floor: the matrices read once per token, no other work
    if device.type == "cpu" and batch == 1:
        floors = {"matrix products alone, (out, in) storage": products_alone(ours, n_new, in_out=False),
                  "matrix products alone, (in, out) storage": products_alone(ours, n_new, in_out=True)}
    outs, times = timed({**fns, **floors}, device, args.repeat)
    out_hf = outs["transformers generate"]
    identical = {impl: torch.equal(out_hf, outs[impl]) for impl in fns}
    for impl in fns:
        out = outs[impl]
        same = int((out_hf == out).all(dim=0).long().cumprod(0).sum()) - args.prompt_tokens
        # a compiled forward rounds differently: its tokens are reported, the others' must be identical
        assert identical[impl] or "static" in impl or "compiled" in impl, \
            f"{impl} differs from transformers after {same} of {n_new} new tokens"

    common = {"machine": describe_machine(device),
              "setting": f"{args.model} {str(dtype)[6:]} batch {batch}, {n_new} new",
              "date": datetime.date.today().isoformat(), "torch": torch.__version__}
    lines = []  # one per impl, then the ratios
    for impl, runs in times.items():
        seconds = statistics.median(runs)
        lines.append({**common, "impl": impl, "seconds": round(seconds, 4),
                      "tokens_per_s": round(batch * n_new / seconds, 1),  # every row's new tokens
                      "ms_per_token": round(seconds / n_new * 1000, 3),  # one step: a token for each row
                      "identical_tokens": identical.get(impl)})  # None: a floor, which makes no tokens
    lines.append({**common, "ratio": round(lines[1]["tokens_per_s"] / lines[0]["tokens_per_s"], 2),
                  "identical_tokens": True})
    if floors:  # transformers over the lower floor: what a decoder reading fp32 weights with these products could reach
        floor = max((r for r in lines if r.get("impl") in floors), key=lambda r: r["tokens_per_s"])
        lines.append({**common, "ratio": round(floor["tokens_per_s"] / lines[0]["tokens_per_s"], 2),
                      "of": "the lower floor / transformers generate: the most any decoder could reach",
                      "identical_tokens": None})
    if "transformers generate, static cache" in times:  # the fastest of each side with identical tokens
        def fastest(side: str) -> dict:
            return max((r for r in lines if r.get("impl", "").startswith(side) and r["identical_tokens"]),
                       key=lambda r: r["tokens_per_s"])
        ours_best, theirs_best = fastest("gpt2_lib"), fastest("transformers")
        lines.append({**common, "ratio": round(ours_best["tokens_per_s"] / theirs_best["tokens_per_s"], 2),
                      "of": f"{ours_best['impl']} / {theirs_best['impl']}", "identical_tokens": True})
    if device.type == "cuda" and batch == 1:
        # the physical limit at batch 1: every weight read once per token
        for line in lines[len(times):]:  # the ratio lines
            line["bytes_per_token"] = ours.num_params() * torch.finfo(dtype).bits // 8
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--model", default="gpt2")
    parser.add_argument("--new-tokens", type=int, default=None, help="default: 128 on CPU, 256 on CUDA")
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--batch", type=int, nargs="+", default=[1], help="batch sizes to measure, e.g. 1 8 64")
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16"], help="default: fp32 CPU, bf16 CUDA")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--logit-scale", type=float, default=8.0,
                        help="multiply the random token embedding so the random model's greedy choices are clear-cut")
    parser.add_argument("--static", action="store_true",
                        help="CUDA: also time transformers' fastest, a static cache with a compiled forward (minutes)")
    parser.add_argument("--compiled", action="store_true",
                        help="CUDA: also time ours with generate(compile=True), the compiled step in the CUDA graph")
    parser.add_argument("--out", default=None, help="append the JSON lines to this file")
    args = parser.parse_args()
    if min(args.batch) < 1:
        parser.error(f"--batch sizes must be at least 1, got {args.batch}")

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype or ("bfloat16" if device.type == "cuda" else "float32"))
    n_new = args.new_tokens or (256 if device.type == "cuda" else 128)
    torch.backends.cuda.matmul.allow_tf32 = False  # both sides compute in the dtype they are given

    # Random weights (the real ones cannot be downloaded here; speed does not depend on their values). With N(0, 0.02)
    # weights every logit is nearly equal and rounding differences flip greedy choices, so the embedding is scaled.
    torch.manual_seed(0)
    ours = GPT(GPTConfig.from_name(args.model))
    with torch.no_grad():
        ours.transformer.wte.weight.mul_(args.logit_scale)
    hf = hf_twin(ours)
    ours, hf = ours.to(device, dtype).eval(), hf.to(device, dtype).eval()
    lines = []
    for batch in args.batch:
        lines += measure(ours, hf, batch, n_new, args, device, dtype)
    for line in lines:
        print(json.dumps(line))
    if args.out:
        with open(args.out, "a") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)


if __name__ == "__main__":
    main()
