"""Where one training step of GPT-2 124M spends its GPU time: kernel time from torch.profiler, grouped by kind.

    python benchmarks/profile_train_step.py --out gpt2_lib/results/train_profile.jsonl

The step is `python -m gpt2_lib.bench`'s fastest setting at B=16, T=1024 (bf16 autocast, torch.compile, fused AdamW, vocabulary
padded to 50,304, bf16 residual stream, fused cross-entropy). Prints and appends one JSON line: milliseconds per step of each kind of kernel.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re

import torch
from torch.profiler import ProfilerActivity, profile

from gpt2_lib.device import describe_machine
from gpt2_lib.model import GPT, GPTConfig

KINDS = [  # first match wins; kernel names as cuBLAS, cuDNN, FlashAttention and Triton (inductor) print them
    ("attention", r"sdpa|flash|fmha|attention"),
    ("matrix products", r"gemm|nvjet|sm90_xmma|cutlass|\bmm\b|addmm|triton_mm|splitk"),
    ("cross-entropy", r"log_softmax|nll_loss|cross_entropy"),
    ("LayerNorm", r"layer_norm"),
    ("GELU", r"gelu"),
    ("optimizer and clipping", r"adam|multi_tensor|norm_kernel|foreach"),
    ("embeddings", r"embedding|index_put|scatter|gather"),
    ("fill and copy", r"fill|copy|memset|memcpy|cat"),
]


def kind_of(kernel: str) -> str:
    name = kernel.lower()
    return next((kind for kind, pattern in KINDS if re.search(pattern, name)), "other elementwise")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.manual_seed(0)
    model = GPT(GPTConfig.from_name("gpt2", vocab_size=50304)).cuda()
    optimizer = model.configure_optimizers(0.1, 6e-4, device_type="cuda")
    forward = torch.compile(model)
    data = torch.randint(0, 50257, (16, 1025), device="cuda")

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            _, loss = forward(data[:, :-1], data[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(5):  # compile and warm up outside the profile
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(args.steps):
            step()
        torch.cuda.synchronize()
    per_kind: dict[str, float] = {}
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            kind = kind_of(event.name)
            per_kind[kind] = per_kind.get(kind, 0.0) + event.device_time / 1000 / args.steps  # us -> ms per step
    setting = "gpt2 B16 T1024 bf16 compile fused-AdamW vocab 50304 bf16-residual fused-cross-entropy"
    line = {"machine": describe_machine(torch.device("cuda")), "torch": torch.__version__,
            "date": datetime.date.today().isoformat(), "setting": setting,
            "gpu_ms_per_step": round(sum(per_kind.values()), 2),
            "ms_per_step_by_kind": {k: round(v, 2) for k, v in sorted(per_kind.items(), key=lambda kv: -kv[1])}}
    print(json.dumps(line, indent=1))
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
