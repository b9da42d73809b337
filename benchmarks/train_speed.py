"""Training speed of GPT-2 124M (B=16, T=1024): gpt2_lib against transformers, and chapter 10's ladder of speed-ups.

    python benchmarks/train_speed.py compare   # gpt2_lib vs GPT2LMHeadModel, same settings, one process
    python benchmarks/train_speed.py ladder    # fp32 -> TF32 -> bf16 -> flash -> compile -> fused AdamW -> ...
    python benchmarks/train_speed.py memory    # GPT-2 medium with and without activation checkpointing

Each run builds its model and optimizer, warms up (compiling, when asked), then times optimizer steps with CUDA
events. Prints one JSON line per run (ms/step, tokens/s, MFU, peak memory) and, for `compare`, the ratio;
--out appends them to a results file. The model's weights are random: speed does not depend on their values.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import statistics

import torch
import torch._inductor.config
from torch.nn.attention import SDPBackend, sdpa_kernel

from gpt2_lib.device import describe_machine
from gpt2_lib.model import GPT, GPTConfig, configure_optimizers
from gpt2_lib.speed import checkpoint_blocks, flops_per_token

H100_BF16_PEAK = 989e12  # dense bf16 FLOP/s of an H100 SXM (NVIDIA's data sheet); MFU is measured against it


def hf_model(cfg: GPTConfig):
    """transformers' GPT2LMHeadModel of the same size, dropout off like ours, PyTorch's SDPA attention."""
    from transformers import GPT2Config, GPT2LMHeadModel

    hf_cfg = GPT2Config(vocab_size=cfg.vocab_size, n_positions=cfg.block_size, n_embd=cfg.n_embd,
                        n_layer=cfg.n_layer, n_head=cfg.n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    hf_cfg._attn_implementation = "sdpa"
    return GPT2LMHeadModel(hf_cfg)


def run(name: str, *, impl: str = "gpt2_lib", vocab: int = 50257, tf32: bool = True, bf16: bool = True,
        flash: bool = True, compile: bool = True, fused: bool = True, batch: int = 16, accum: int = 1,
        compile_mode: str | None = None, cudnn_attention: bool = False, coordinate_descent: bool = False,
        model_name: str = "gpt2", checkpointing: bool = False, T: int = 1024, warmup: int = 5, steps: int = 20) -> dict:
    """Time `steps` optimizer steps (each of `accum` micro-batches of batch x T tokens) in one setting."""
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch._inductor.config.coordinate_descent_tuning = coordinate_descent
    cfg = GPTConfig.from_name(model_name, vocab_size=vocab)
    model = (hf_model(cfg) if impl == "transformers" else GPT(cfg)).cuda().train()
    if checkpointing:
        checkpoint_blocks(model)
    n_params = sum(p.numel() for p in model.parameters())
    opt = configure_optimizers(model, 0.1, 6e-4, device_type="cuda" if fused else "cpu")  # fused only for "cuda"
    fwd = torch.compile(model, mode=compile_mode) if compile else model
    data = torch.randint(0, 50257, (accum, batch, T + 1), device="cuda")  # real ids < 50,257 even when padded

    def loss_of(x, y):
        if impl == "transformers":  # it shifts labels inside; we give it x and compare the same work
            return fwd(input_ids=x, labels=x).loss
        return fwd(x, y)[1]

    def step():
        for i in range(accum):
            x, y = data[i, :, :-1], data[i, :, 1:]
            autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
            backends = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION] if flash else [SDPBackend.MATH]
            if cudnn_attention:  # cuDNN's fused attention, which has kernels written for Hopper, tried first
                backends = [SDPBackend.CUDNN_ATTENTION, *backends]
            with autocast, sdpa_kernel(backends, set_priority=cudnn_attention):
                loss = loss_of(x, y) / accum
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    torch.cuda.reset_peak_memory_stats()
    for _ in range(warmup):
        loss = step()
    torch.cuda.synchronize()
    assert torch.isfinite(loss), f"{name}: loss is {loss}"
    times = []
    for _ in range(steps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    ms = statistics.median(times)
    tokens = accum * batch * T
    tok_s = tokens / (ms / 1000)
    mfu = flops_per_token(cfg, n_params, T) * tok_s / H100_BF16_PEAK
    attention = getattr(getattr(model, "config", None), "_attn_implementation", "sdpa")
    result = {"run": name, "impl": impl, "attention": attention, "ms_per_step": round(ms, 2), "tokens_per_step": tokens,
              "tokens_per_s": round(tok_s), "mfu": round(mfu, 4),
              "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2),
              "settings": dict(vocab=vocab, tf32=tf32, bf16=bf16, flash=flash, compile=compile, fused_adamw=fused,
                               batch=batch, accum=accum, T=T, compile_mode=compile_mode,
                               cudnn_attention=cudnn_attention, coordinate_descent=coordinate_descent,
                               model=model_name, checkpointing=checkpointing),
              "loss_after": round(loss.item() * accum, 3)}
    print(json.dumps(result), flush=True)
    del model, fwd, opt, data
    gc.collect()
    torch.cuda.empty_cache()
    torch._dynamo.reset()
    return result


LADDER = [  # chapter 10, one change at a time, each on top of the ones before
    ("fp32", dict(tf32=False, bf16=False, flash=False, compile=False, fused=False)),
    ("+ TF32 matmuls", dict(bf16=False, flash=False, compile=False, fused=False)),
    ("+ bf16 autocast", dict(flash=False, compile=False, fused=False)),
    ("+ flash attention", dict(compile=False, fused=False)),
    ("+ torch.compile", dict(fused=False)),
    ("+ fused AdamW", dict()),
    ("+ vocab 50,304", dict(vocab=50304)),
    ("+ batch 32 x 16 accumulated (0.5M tokens)", dict(vocab=50304, batch=32, accum=16, warmup=2, steps=4)),
    ("+ compile max-autotune", dict(vocab=50304, compile_mode="max-autotune-no-cudagraphs")),
    ("+ cuDNN attention", dict(vocab=50304, cudnn_attention=True)),
    ("+ coordinate-descent tuning", dict(vocab=50304, cudnn_attention=True, coordinate_descent=True)),
    ("+ CUDA graphs (compile reduce-overhead)", dict(vocab=50304, compile_mode="reduce-overhead")),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=["compare", "ladder", "memory"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--only", nargs="*", help="ladder: run just these steps (by position, 0 = fp32)")
    parser.add_argument("--out", default=None, help="append the JSON lines to this file")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("error: this benchmark needs a CUDA GPU (GPT-2 124M at B=16, T=1024)")

    common = {"machine": describe_machine(torch.device("cuda")), "torch": torch.__version__,
              "date": datetime.date.today().isoformat(), "suite": args.suite}
    lines = []
    if args.suite == "compare":
        import transformers

        common["transformers"] = transformers.__version__
        theirs = run("transformers", impl="transformers", steps=args.steps)
        lines.append(theirs)
        for name, vocab in (("gpt2_lib", 50257), ("gpt2_lib, vocab 50,304", 50304)):
            ours = run(name, vocab=vocab, steps=args.steps)
            ratio = {"run": f"{name} / transformers", "ratio": round(ours["tokens_per_s"] / theirs["tokens_per_s"], 2)}
            print(json.dumps(ratio))
            lines += [ours, ratio]
    elif args.suite == "memory":  # activation checkpointing on GPT-2 medium: the memory it saves, the time it costs
        for name, ckpt in (("gpt2-medium, B8", False), ("gpt2-medium, B8, activation checkpointing", True)):
            lines.append(run(name, model_name="gpt2-medium", vocab=50304, batch=8, checkpointing=ckpt, steps=10))
    else:
        for i, (name, settings) in enumerate(LADDER):
            if args.only and str(i) not in args.only:
                continue
            settings = {"steps": args.steps, **settings}
            lines.append(run(name, **settings))
    if args.out:
        with open(args.out, "a") as f:
            f.writelines(json.dumps({**common, **line}) + "\n" for line in lines)


if __name__ == "__main__":
    main()
