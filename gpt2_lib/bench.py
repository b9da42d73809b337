"""Training speed of GPT-2 124M (B=16, T=1024): gpt2_lib against transformers and nanoGPT, and chapter 10's ladder.

    python -m gpt2_lib.bench compare   # gpt2_lib vs GPT2LMHeadModel and nanoGPT, same settings, one process
    python -m gpt2_lib.bench ladder    # fp32 -> TF32 -> bf16 -> flash -> compile -> fused AdamW -> ...
    python -m gpt2_lib.bench tried     # settings that did not pay on an H100, kept to re-check them
    python -m gpt2_lib.bench memory    # GPT-2 medium with and without activation checkpointing
    python -m gpt2_lib.bench graph     # compare's best settings, each step also replayed as one CUDA graph
    python -m gpt2_lib.bench fp8 --steps 200   # FP8 matmuls (torchao) against bf16: speed, and the loss on real text

Part of the package (not only of `benchmarks/`) so that chapter 10 can run it wherever gpt2_lib is installed.

Each run builds its model and optimizer, warms up (compiling, when asked), then runs its timed optimizer steps back
to back, as a training loop that does not wait for each loss would, with a CUDA event recorded between steps and
one synchronisation at the end: ms/step is the median time between consecutive events, the GPU's steady pace.
Prints one JSON line per run (ms/step, tokens/s, MFU, peak memory) and, for `compare`, the ratio; --out appends
them to a results file, each invocation under one `session` stamp. The weights are random: speed does not depend
on their values.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import importlib.util
import json
import statistics
import time

import numpy as np
import torch
import torch._inductor.config
from torch.nn.attention import SDPBackend, sdpa_kernel

from gpt2_lib.device import describe_machine
from gpt2_lib.download import fetch_file
from gpt2_lib.model import GPT, GPTConfig, configure_optimizers
from gpt2_lib.cuda_graph import graph_step
from gpt2_lib.data import RandomWindows, fixed_batches
from gpt2_lib.speed import checkpoint_blocks, flops_per_token, speed_up
from gpt2_lib.tokenizer import get_tokenizer

FP8_NEEDS_TORCHAO = "error: fp8 needs torchao: pip install 'gpt2_lib[fp8]'"
H100_BF16_PEAK = 989e12  # dense bf16 FLOP/s of an H100 SXM (NVIDIA's data sheet); MFU is measured against it


def hf_model(cfg: GPTConfig):
    """transformers' GPT2LMHeadModel of the same size, dropout off like ours, PyTorch's SDPA attention."""
    from transformers import GPT2Config, GPT2LMHeadModel

    hf_cfg = GPT2Config(vocab_size=cfg.vocab_size, n_positions=cfg.block_size, n_embd=cfg.n_embd,
                        n_layer=cfg.n_layer, n_head=cfg.n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    hf_cfg._attn_implementation = "sdpa"
    return GPT2LMHeadModel(hf_cfg)


def nanogpt_model(cfg: GPTConfig):
    """nanoGPT's GPT (its model.py at a pinned commit, fetched once and verified by sha256) of the same size, no
    dropout: the model most readers compare against."""
    path = fetch_file("nanogpt/model.py", progress=False)
    spec = importlib.util.spec_from_file_location("nanogpt_model", path)
    nanogpt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nanogpt)
    return nanogpt.GPT(nanogpt.GPTConfig(block_size=cfg.block_size, vocab_size=cfg.vocab_size, n_layer=cfg.n_layer,
                                         n_head=cfg.n_head, n_embd=cfg.n_embd, dropout=0.0, bias=True))


def fp8_linears(model: torch.nn.Module, head: bool) -> None:
    """torchao's float8 training for the blocks' linear layers, and the tied head's if `head`: their matmuls run in
    FP8 on the tensor cores, inputs and weights scaled per tensor, in place."""
    try:
        from torchao.float8 import Float8LinearConfig, convert_to_float8_training
    except ImportError:
        raise SystemExit(FP8_NEEDS_TORCHAO) from None
    convert_to_float8_training(model, config=Float8LinearConfig.from_recipe_name("tensorwise"),
                               module_filter_fn=lambda module, name: head or name != "lm_head")


def shakespeare(batches: int, batch: int, T: int, device: str = "cuda") -> tuple[torch.Tensor, list]:
    """Real text for runs whose loss should mean something: `batches` training batches (batches, batch, T + 1) from
    tiny Shakespeare's first 90% at seeded random starts, and 4 fixed (x, y) validation batches from the rest."""
    text = fetch_file("tinyshakespeare.txt", progress=False).read_text()
    ids = np.array(get_tokenizer().encode(text), dtype=np.int64)
    split = int(0.9 * len(ids))
    windows = RandomWindows(ids[:split], batch, T, seed=0)
    # T + 1 tokens a row: the inputs x and, at the end of y (x shifted by one), the last one's next token
    train = torch.stack([torch.cat([x, y[:, -1:]], dim=1) for x, y in (windows.next_batch() for _ in range(batches))])
    val = [(x.to(device), y.to(device)) for x, y in fixed_batches(ids[split:], 4, batch, T)]
    return train.to(device), val


def _time(timed_step, steps: int, name: str) -> tuple[float, float, torch.Tensor]:
    """ms/step (the median time between CUDA events recorded between steps run back to back), the CPU's ms/step,
    and the last loss; one step first, to check the loss is finite."""
    loss = timed_step()
    torch.cuda.synchronize()
    assert torch.isfinite(loss), f"{name}: loss is {loss}"
    events = [torch.cuda.Event(enable_timing=True) for _ in range(steps + 1)]
    events[0].record()
    t0 = time.perf_counter()
    for event in events[1:]:  # back to back: the CPU queues the next step while the GPU runs this one
        loss = timed_step()
        event.record()
    cpu_ms = (time.perf_counter() - t0) / steps * 1000  # close to ms/step: the CPU, not the GPU, sets the pace
    torch.cuda.synchronize()
    return statistics.median(a.elapsed_time(b) for a, b in zip(events, events[1:])), cpu_ms, loss


def _data(text: bool, accum: int, batch: int, T: int, steps: int) -> tuple[list, list | None]:
    """The (x, y) batches on the GPU: `accum` of random ids, reused by every step, or, with text, tiny Shakespeare:
    one batch for each of `steps`, and the validation batches."""
    val = None
    if text:
        data, val = shakespeare(steps, batch, T)
    else:
        data = torch.randint(0, 50257, (accum, batch, T + 1), device="cuda")  # real ids < 50,257 even when padded
    # inputs and targets, contiguous as a data loader hands them out (nanoGPT's loss needs that)
    return [(d[:, :-1].contiguous(), d[:, 1:].contiguous()) for d in data], val


def _learned(model: torch.nn.Module, losses: list[torch.Tensor], val: list, bf16: bool) -> dict:
    """What a setting does to learning: the mean of the last 10 steps' losses, and the held-out text's loss."""
    model.eval()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
        val_loss = statistics.mean(model(x, y)[1].item() for x, y in val)
    return {"steps_trained": len(losses), "train_loss_last_10": round(torch.stack(losses[-10:]).mean().item(), 4),
            "val_loss": round(val_loss, 4)}


def _model_to_time(impl: str, cfg: GPTConfig, *, bf16_residual: bool, fused_loss: bool, checkpointing: bool,
                   fp8: str | None):
    """transformers' GPT2LMHeadModel, nanoGPT's GPT, or ours with chapter 10's speed paths (and FP8 matmuls in the
    blocks, or "all" of them), on the GPU, training."""
    if impl == "transformers":
        model = hf_model(cfg).cuda().train()
    elif impl == "nanoGPT":
        model = nanogpt_model(cfg).cuda().train()
    else:
        model = speed_up(GPT(cfg), bf16_residual=bf16_residual, fused_loss=fused_loss).cuda().train()
        if fp8:
            fp8_linears(model, head=fp8 == "all")
    if checkpointing:
        checkpoint_blocks(model)
    return model


def _check(impl: str, fp8: str | None, text: bool, cuda_graph: bool, accum: int) -> None:
    """Refuse settings that cannot run, before anything is built."""
    if fp8 not in (None, "blocks", "all") or (fp8 and impl != "gpt2_lib"):
        raise ValueError(f"fp8 is None, 'blocks' or 'all', for gpt2_lib only; got {fp8!r} for {impl}")
    if text and (cuda_graph or accum != 1):
        raise ValueError("text=True draws a new batch each step: without cuda_graph, and with accum=1")


def _switch(tf32: bool, coordinate_descent: bool, inductor: dict) -> dict:
    """Seed, and set one run's process-wide switches; returns the inductor settings it replaced, for _release."""
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch._inductor.config.coordinate_descent_tuning = coordinate_descent
    saved = {k: getattr(torch._inductor.config, k) for k in inductor}
    for k, v in inductor.items():  # other inductor settings, for this run only
        setattr(torch._inductor.config, k, v)
    return saved


def _release(saved: dict) -> None:
    """Free a run's GPU memory and compiled code, and put back the inductor settings it replaced."""
    gc.collect()
    torch.cuda.empty_cache()
    torch._dynamo.reset()
    for k, v in saved.items():
        setattr(torch._inductor.config, k, v)


def run(name: str, *, impl: str = "gpt2_lib", vocab_size: int = 50257, tf32: bool = True, bf16: bool = True,
        flash: bool = True, compile: bool = True, fused: bool = True, batch: int = 16, accum: int = 1,
        compile_mode: str | None = None, cudnn_attention: bool = False, coordinate_descent: bool = False,
        bf16_residual: bool = True, fused_loss: bool = True, model_name: str = "gpt2", checkpointing: bool = False,
        inductor: dict | None = None, cuda_graph: bool = False, T: int = 1024, warmup: int = 5,
        steps: int = 20, fp8: str | None = None, text: bool = False) -> dict:
    """Time `steps` optimizer steps (each of `accum` micro-batches of batch x T tokens) in one setting.

    fp8: "blocks" or "all" (the head too), torchao's FP8 matmuls, ours only. text: train on tiny Shakespeare, a new
    batch each step (random ids otherwise), and report the training and validation loss at the end."""
    _check(impl, fp8, text, cuda_graph, accum)
    inductor = inductor or {}
    saved = _switch(tf32, coordinate_descent, inductor)
    cfg = GPTConfig.from_name(model_name, vocab_size=vocab_size)
    model = _model_to_time(impl, cfg, bf16_residual=bf16_residual, fused_loss=fused_loss, checkpointing=checkpointing,
                           fp8=fp8)
    n_params = sum(p.numel() for p in model.parameters())
    opt = configure_optimizers(model, 0.1, 6e-4, device_type="cuda" if fused else "cpu")  # fused only for "cuda"
    fwd = torch.compile(model, mode=compile_mode) if compile else model
    batches, val = _data(text, accum, batch, T, warmup + steps + 1)
    losses = []  # text: every step's loss, kept on the GPU

    def loss_of(x, y):
        if impl == "transformers":  # it shifts labels inside; we give it x and compare the same work
            return fwd(input_ids=x, labels=x).loss
        return fwd(x, y)[1]  # ours and nanoGPT's: (logits, loss)

    def update():  # forward and backward of each micro-batch, clipping, AdamW; the gradients are left in place
        for x, y in [batches[len(losses)]] if text else batches:  # text: this step's own batch
            autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
            backends = [SDPBackend.MATH]  # the attention of chapter 3, written out: the (T, T) weights in memory
            if flash:  # PyTorch's fused kernels, in its own order of preference (cuDNN's and FlashAttention's first)
                backends = [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]
            with autocast, sdpa_kernel(backends, set_priority=cudnn_attention):
                loss = loss_of(x, y) / accum
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    def step():
        loss = update()
        opt.zero_grad(set_to_none=True)
        if text:
            losses.append(loss.detach())
        return loss

    torch.cuda.reset_peak_memory_stats()
    if cuda_graph:  # chapter 10: warms up (compiling) on the stream it records on, then replays the whole step
        timed_step = graph_step(update, opt, warmup=warmup)
    else:
        for _ in range(warmup):
            step()
        timed_step = step
    ms, cpu_ms, loss = _time(timed_step, steps, name)
    tokens = accum * batch * T
    tok_s = tokens / (ms / 1000)
    mfu = flops_per_token(cfg, n_params, T) * tok_s / H100_BF16_PEAK
    attention = getattr(getattr(model, "config", None), "_attn_implementation", "sdpa")
    result = {"run": name, "impl": impl, "attention": attention, "ms_per_step": round(ms, 2),
              "cpu_ms_per_step": round(cpu_ms, 2), "tokens_per_step": tokens,
              "tokens_per_s": round(tok_s), "mfu": round(mfu, 4),
              "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2),
              "settings": dict(vocab=vocab_size,  # "vocab": the key the stored results use
                               tf32=tf32, bf16=bf16, flash=flash, compile=compile, fused_adamw=fused,
                               batch=batch, accum=accum, T=T, compile_mode=compile_mode,
                               cudnn_attention=cudnn_attention, coordinate_descent=coordinate_descent,
                               bf16_residual=bf16_residual, fused_loss=fused_loss, model=model_name,
                               checkpointing=checkpointing, inductor=inductor, cuda_graph=cuda_graph, fp8=fp8,
                               text=text),
              "loss_after": round(loss.item() * accum, 3)}
    if text:
        result.update(_learned(model, losses, val, bf16))
    print(json.dumps(result), flush=True)
    del model, fwd, opt, batches, losses
    _release(saved)
    return result


PLAIN = dict(bf16_residual=False, fused_loss=False)  # chapter 10's own two changes off, for the rungs before them
LADDER = [  # chapter 10, one change at a time, each on top of the ones before
    ("fp32", dict(tf32=False, bf16=False, flash=False, compile=False, fused=False, **PLAIN)),
    ("+ TF32 matmuls", dict(bf16=False, flash=False, compile=False, fused=False, **PLAIN)),
    ("+ bf16 autocast", dict(flash=False, compile=False, fused=False, **PLAIN)),
    ("+ flash attention", dict(compile=False, fused=False, **PLAIN)),
    ("+ torch.compile", dict(fused=False, **PLAIN)),
    ("+ fused AdamW", dict(**PLAIN)),
    ("+ vocab 50,304", dict(vocab_size=50304, **PLAIN)),
    ("+ bf16 residual stream", dict(vocab_size=50304, fused_loss=False)),
    ("+ fused cross-entropy (Triton)", dict(vocab_size=50304)),
    ("+ batch 32 x 16 accumulated (0.5M tokens)", dict(vocab_size=50304, batch=32, accum=16, warmup=2, steps=4)),
]
TRIED = [  # measured without gain on an H100 (benchmarks/NOTES.md); on top of the ladder's B=16 best
    ("+ compile max-autotune", dict(vocab_size=50304, compile_mode="max-autotune-no-cudagraphs")),
    ("+ cuDNN attention", dict(vocab_size=50304, cudnn_attention=True)),
    ("+ coordinate-descent tuning", dict(vocab_size=50304, cudnn_attention=True, coordinate_descent=True)),
    ("+ CUDA graphs (compile reduce-overhead)", dict(vocab_size=50304, compile_mode="reduce-overhead")),
    ("+ combo kernels (inductor)", dict(vocab_size=50304, inductor={"combo_kernels": True})),
]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m gpt2_lib.bench", description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=["compare", "ladder", "tried", "memory", "graph", "fp8"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--only", nargs="*", help="ladder: run just these steps (by position, 0 = fp32)")
    parser.add_argument("--out", default=None,
                        help="append the JSON lines to this file (the book's own: gpt2_lib/results/train_speed.jsonl)")
    args = parser.parse_args()
    if args.suite == "fp8" and importlib.util.find_spec("torchao") is None:  # before the bf16 run, not after it
        raise SystemExit(FP8_NEEDS_TORCHAO)
    if not torch.cuda.is_available():
        raise SystemExit("error: this benchmark needs a CUDA GPU (GPT-2 124M at B=16, T=1024)")

    now = datetime.datetime.now(datetime.timezone.utc)
    common = {"machine": describe_machine(torch.device("cuda")), "torch": torch.__version__,
              "date": now.date().isoformat(), "session": now.isoformat(timespec="seconds"), "suite": args.suite}
    lines = []
    if args.suite in ("compare", "graph"):
        import transformers

        common["transformers"] = transformers.__version__
        ours_runs, graphs = (("gpt2_lib", 50257), ("gpt2_lib, vocab 50,304", 50304)), (False,)
        # nanoGPT with its own vocabulary of 50,304 (as its train.py pads it), our harness and settings
        others = [("transformers", {}), ("nanoGPT", {"vocab_size": 50304})]
        if args.suite == "graph":  # the best settings, then the same with each step replayed as one CUDA graph
            ours_runs, graphs, others = ours_runs[1:], (False, True), others[:1]
        for graph in graphs:  # every model gets the same settings
            suffix = ", whole-step CUDA graph" if graph else ""
            baselines = [run(impl + suffix, impl=impl, cuda_graph=graph, steps=args.steps, **kw) for impl, kw in others]
            lines += baselines
            for name, vocab in ours_runs:
                ours = run(name + suffix, vocab_size=vocab, cuda_graph=graph, steps=args.steps)
                lines.append(ours)
                for theirs in baselines:
                    if theirs["impl"] == "nanoGPT" and theirs["settings"]["vocab"] != vocab:
                        continue  # against nanoGPT only at its own vocabulary: the same model
                    ratio = {"run": f"{name}{suffix} / {theirs['run']}",
                             "ratio": round(ours["tokens_per_s"] / theirs["tokens_per_s"], 2)}
                    print(json.dumps(ratio))
                    lines.append(ratio)
    elif args.suite == "fp8":  # compare's best (vocab 50,304), then FP8 matmuls; the same text, seed and steps
        for name, fp8 in (("bf16", None), ("+ fp8 block matmuls (torchao)", "blocks"), ("+ fp8 head too", "all")):
            lines.append(run(name, vocab_size=50304, fp8=fp8, text=True, steps=args.steps))
    elif args.suite == "memory":  # activation checkpointing on GPT-2 medium: the memory it saves, the time it costs
        for name, ckpt in (("gpt2-medium, B8", False), ("gpt2-medium, B8, activation checkpointing", True)):
            lines.append(run(name, model_name="gpt2-medium", vocab_size=50304, batch=8, checkpointing=ckpt, steps=10))
    else:
        for i, (name, settings) in enumerate(LADDER if args.suite == "ladder" else TRIED):
            if args.only and str(i) not in args.only:
                continue
            settings = {"steps": args.steps, **settings}
            lines.append(run(name, **settings))
    if args.out:
        with open(args.out, "a") as f:
            f.writelines(json.dumps({**common, **line}) + "\n" for line in lines)


if __name__ == "__main__":
    main()
