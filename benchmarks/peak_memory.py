"""Peak GPU memory of what the chapters run with GPT-2 124M, for a reader choosing a GPU (Colab's free T4 has 15 GB).

    python benchmarks/peak_memory.py --out gpt2_lib/results/peak_memory.jsonl

Each training row runs a few updates through `gpt2_lib.train.train` with a chapter's full-size settings (chapter 8:
GPT-2 124M from scratch at B=16, T=512; chapter 9: fine-tuning at B=8, T=256), once in bf16 and once in fp16 with a
gradient scaler, as on a T4; each generation row generates 256 tokens after a 16-token prompt. The numbers are
PyTorch's own accounting (`max_memory_allocated`, and `max_memory_reserved`, what the card must hold).
"""

from __future__ import annotations

import argparse
import datetime
import json

import numpy as np
import torch

from gpt2_lib.device import describe_machine
from gpt2_lib.generate import generate
from gpt2_lib.model import GPT, GPTConfig
from gpt2_lib.train import TrainConfig, train

TRAINING = [("chapter 8: GPT-2 124M from scratch, B16 x T512", 16, 512),
            ("chapter 9: fine-tuning GPT-2 124M, B8 x T256", 8, 256)]


def peak(run: str, fn) -> dict:
    """Run fn on a clean slate and report the peak memory PyTorch allocated and reserved on the GPU."""
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    gb = 1e9
    return {"run": run, "peak_allocated_gb": round(torch.cuda.max_memory_allocated() / gb, 2),
            "peak_reserved_gb": round(torch.cuda.max_memory_reserved() / gb, 2)}


def training(batch: int, block: int, dtype: str) -> None:
    torch.manual_seed(0)
    tokens = np.random.default_rng(0).integers(0, 50257, size=200_000).astype(np.uint16)
    cfg = TrainConfig(max_steps=3, batch_size=batch, block_size=block, eval_every=3, eval_batches=1,
                      device="cuda", dtype=dtype, progress=False, seed=0)
    train(GPT(GPTConfig.from_name("gpt2")), cfg, tokens, tokens)


def generation(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig.from_name("gpt2")).to("cuda", dtype).eval()
    prompt = torch.randint(0, 50257, (1, 16), device="cuda")
    with torch.no_grad():
        generate(model, prompt, 256, temperature=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="append the JSON lines to this file")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("error: this measurement needs a CUDA GPU")
    now = datetime.datetime.now(datetime.timezone.utc)
    common = {"suite": "peak_memory", "machine": describe_machine(torch.device("cuda")), "torch": torch.__version__,
              "date": now.date().isoformat()}
    rows = []
    for name, batch, block in TRAINING:
        for dtype in ("bf16", "fp16"):
            rows.append(peak(f"{name}, {dtype}", lambda: training(batch, block, dtype)))
    for dtype in (torch.float32, torch.bfloat16):
        rows.append(peak(f"generation, GPT-2 124M, {str(dtype).removeprefix('torch.')}, 272 tokens",
                         lambda: generation(dtype)))
    for row in rows:
        print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.writelines(json.dumps({**common, **row}) + "\n" for row in rows)


if __name__ == "__main__":
    main()
