"""Data-parallel scaling of `python -m gpt2_lib train` under torchrun: tokens/s on 1 GPU and on N GPUs of one host.

    python benchmarks/ddp_speed.py --gpus 1 2 --grad-accum 1 4 --out gpt2_lib/results/train_speed.jsonl

Each run is the real command a reader types (GPT-2 124M, B=16 per GPU, T=1024, bf16, torch.compile), on random
token files (speed does not depend on the text). Tokens/s is read from the run's metrics.jsonl: the global batch
over the step's wall time on rank 0, median over the steps after compilation.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from gpt2_lib.device import describe_machine
from gpt2_lib.train import read_metrics


def random_tokens(folder: Path, n_train: int = 20_000_000, n_val: int = 200_000) -> Path:
    """train.bin / val.bin of random GPT-2 ids, in the layout `prepare` writes."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("val", n_val)):
        rng.integers(0, 50257, n, dtype=np.uint16).tofile(folder / f"{split}.bin")
    meta = {"tokenizer": "gpt2", "vocab_size": 50257, "eot_token": 50256, "dtype": "uint16",
            "train_tokens": n_train, "val_tokens": n_val}
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=15, help="steps left out of the median (compilation)")
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per GPU per micro-batch")
    parser.add_argument("--grad-accum", type=int, nargs="+", default=[1],
                        help="micro-batches per step (gradients averaged once); several: one set of runs each")
    parser.add_argument("--out", default=None, help="append the JSON lines to this file")
    args = parser.parse_args()
    if torch.cuda.device_count() < max(args.gpus):
        raise SystemExit(f"error: asked for {max(args.gpus)} GPUs, this machine has {torch.cuda.device_count()}")

    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        data = random_tokens(Path(tmp) / "data")
        for accum, n in ((a, n) for a in args.grad_accum for n in args.gpus):
            out = Path(tmp) / f"run-{n}-{accum}"
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
                   "-m", "gpt2_lib", "train", "--data", str(data), "--out", str(out), "--model", "gpt2",
                   "--batch-size", str(args.batch_size), "--grad-accum", str(accum), "--block-size", "1024",
                   "--max-steps", str(args.steps),
                   "--eval-every", str(10 * args.steps), "--eval-batches", "1", "--dtype", "bf16", "--compile",
                   "--device", "cuda", "--no-progress"]
            subprocess.run(cmd, check=True)
            rows = [r for r in read_metrics(out / "metrics.jsonl") if "tokens_per_sec" in r]
            tok_s = statistics.median(r["tokens_per_sec"] for r in rows[args.warmup:])
            accumulated = f", {accum} accumulated" if accum > 1 else ""
            lines.append({"run": f"{n} GPU{'s' if n > 1 else ''}, B{args.batch_size} x T1024 each{accumulated}",
                          "tokens_per_s": round(tok_s),
                          "settings": {"gpus": n, "batch_per_gpu": args.batch_size, "grad_accum": accum}})
            print(json.dumps(lines[-1]), flush=True)
    for r in lines:  # against one GPU with the same accumulation
        one = next((o for o in lines if o["settings"]["gpus"] == 1
                    and o["settings"]["grad_accum"] == r["settings"]["grad_accum"]), None)
        if one:
            r["scaling"] = round(r["tokens_per_s"] / one["tokens_per_s"], 3)
            print(json.dumps(r))
    now = datetime.datetime.now(datetime.timezone.utc)
    common = {"machine": f"{torch.cuda.device_count()} x {describe_machine(torch.device('cuda'))}",
              "torch": torch.__version__, "date": now.date().isoformat(), "session": now.isoformat(timespec="seconds"),
              "suite": "ddp"}
    if args.out:
        with open(args.out, "a") as f:
            f.writelines(json.dumps({**common, **r}) + "\n" for r in lines)


if __name__ == "__main__":
    main()
