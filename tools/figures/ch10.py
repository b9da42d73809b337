"""Chapter 10's diagrams: where a training step's GPU time goes (from the chapter's profile), data parallelism."""

from __future__ import annotations

import json
from pathlib import Path

import style
from style import ACCENT, BLUE, GREEN, GREY, INK, MUTED, ORANGE, PURPLE, RED, YELLOW, arrow, box, canvas

PROFILE = Path(__file__).resolve().parents[2] / "gpt2_lib" / "results" / "train_profile.jsonl"
KIND_COLOURS = {"matrix products": BLUE, "attention": PURPLE, "LayerNorm": GREEN, "cross-entropy": ORANGE,
                "fill and copy": YELLOW, "GELU": "#ead1dc", "optimizer and clipping": "#f8cbad",
                "other elementwise": GREY, "embeddings": "#ffffff"}


def draw_step_time():
    """Two stacked bars of GPU ms per step by kind of kernel: before and after section 6's two changes."""
    runs = [json.loads(line) for line in PROFILE.read_text().splitlines() if line.strip()]
    before = [r for r in runs if "bf16-residual" not in r["setting"]][-1]
    after = [r for r in runs if "bf16-residual" in r["setting"]][-1]
    fig, ax = canvas(8.8, 3.6, "Where one training step's GPU time goes (GPT-2 124M, B=16, T=1024)")
    scale = 5.9 / before["gpu_ms_per_step"]  # inches per ms
    x0 = 1.9
    order = list(before["ms_per_step_by_kind"])
    for row, (label, run) in enumerate([("before §6", before), ("bf16 stream +\nfused loss", after)]):
        y = 2.55 - row * 0.95
        ax.text(x0 - 0.12, y, label, ha="right", va="center", fontsize=9)
        left = x0
        for kind in order:
            ms = run["ms_per_step_by_kind"][kind]
            w = ms * scale
            box(ax, left + w / 2, y, w, 0.55, "", fc=KIND_COLOURS[kind], round_=False, lw=0.6)
            if w > 0.3:
                ax.text(left + w / 2, y, f"{ms:.1f}", ha="center", va="center", fontsize=8)
            left += w
        ax.text(left + 0.08, y, f"{run['gpu_ms_per_step']:.1f} ms", ha="left", va="center", fontsize=9,
                fontweight="bold")
    # Legend: two rows under the bars.
    for i, kind in enumerate(order):
        lx, ly = 0.25 + (i % 5) * 1.72, 0.8 - (i // 5) * 0.3
        box(ax, lx + 0.1, ly, 0.18, 0.18, "", fc=KIND_COLOURS[kind], round_=False, lw=0.6)
        ax.text(lx + 0.25, ly, kind, fontsize=8, va="center", ha="left")
    ax.text(0.25, 0.12, f"Kernel time by kind, in ms, measured with torch.profiler on {before['machine'].split(' (')[0]} "
            "(gpt2_lib/results/train_profile.jsonl).", fontsize=8, color=MUTED, ha="left", va="center")
    return fig


def draw_ddp():
    """N GPUs, one shard of the global batch each, gradients averaged by an all-reduce, the same AdamW step."""
    fig, ax = canvas(8.6, 4.3, "Data parallelism: one global batch, N copies of the model, one averaged gradient")
    n = 3
    box(ax, 4.3, 3.55, 5.4, 0.4, "", fc="white", round_=False)
    for i in range(n):  # the global batch, cut into one shard per rank
        box(ax, 2.5 + i * 1.8, 3.55, 1.8, 0.4, f"rows of rank {i}", fc=[BLUE, GREEN, ORANGE][i], round_=False,
            fontsize=8.5)
    ax.text(7.15, 3.55, "global batch\n(N·B, T)", ha="left", va="center", fontsize=8.5)
    for i in range(n):
        cx = 2.5 + i * 1.8
        arrow(ax, (cx, 3.33), (cx, 2.95))
        box(ax, cx, 2.6, 1.55, 0.62, f"GPU {i}\nfull GPT copy", fc=GREY, fontsize=8.5)
        ax.text(cx, 2.0, f"forward, backward\n→ g{i} (own shard)", ha="center", va="center", fontsize=8)
        arrow(ax, (cx, 1.72), (cx, 1.38))
    box(ax, 4.3, 1.15, 5.4, 0.42, "all-reduce:  ḡ = (g0 + g1 + g2) / N   on every GPU  (N = 3 here)", fc=YELLOW, fontsize=9)
    for i in range(n):
        cx = 2.5 + i * 1.8
        arrow(ax, (cx, 0.93), (cx, 0.62))
        box(ax, cx, 0.42, 1.3, 0.36, "AdamW step", fc=PURPLE, fontsize=8.5)
    ax.text(0.15, 2.3, "DDP overlaps\nthe all-reduce\nwith backward,\nbucket by bucket;\nno_sync() skips it\n"
            "for all but the\nlast micro-batch.", fontsize=8, color=MUTED, ha="left", va="center")
    ax.text(7.15, 0.42, "same ḡ → same\nweights on all", ha="left", va="center", fontsize=8.5)
    return fig


def draw_grad_accum():
    """k micro-batches, each loss divided by k, gradients summed in .grad, one AdamW step: one k-times-larger batch."""
    fig, ax = canvas(8.6, 3.4, "Gradient accumulation: k micro-batches, one optimizer step")
    k = 4
    for i in range(k):
        x = 1.0 + i * 1.55
        box(ax, x, 2.55, 1.3, 0.42, f"micro-batch {i}\n(B, T)", fc=BLUE, fontsize=8.5)
        arrow(ax, (x, 2.32), (x, 1.98))
        box(ax, x, 1.75, 1.3, 0.42, "backward of\nloss / k", fc=GREY, fontsize=8.5)
        arrow(ax, (x, 1.52), (x, 1.12))
    box(ax, 3.33, 0.9, 5.95, 0.4, ".grad += ∂(loss_i / k)/∂θ   →   the mean gradient over k·B sequences", fc=YELLOW,
        fontsize=9)
    arrow(ax, (6.33, 0.9), (6.95, 0.9))
    box(ax, 7.7, 0.9, 1.3, 0.4, "AdamW step,\nzero_grad", fc=PURPLE, fontsize=8.5)
    ax.text(7.0, 2.2, "= one batch of\nk·B sequences,\nup to float\nrounding; memory\nof one micro-batch",
            fontsize=8.5, ha="left", va="center")
    ax.text(0.35, 0.2, "Without the division by k the step would see the sum of k gradients: k times too large "
            "(train_step divides; section 4 checks it).", fontsize=8, color=MUTED, ha="left")
    return fig


def draw_fp8_linear():
    """One linear layer's forward product in FP8: each input scaled by its largest value, cast, multiplied, unscaled."""
    fig, ax = canvas(8.8, 3.9, "An FP8 product: scale, cast, multiply, scale back (tensorwise, as torchao does)")
    for y, name, shape in ((2.85, "x", "activations (16384, 768)"), (1.65, "W", "weights (768, 2304)")):
        box(ax, 0.98, y, 1.56, 0.5, f"{name}  bf16\n{shape}", fc=BLUE, fontsize=8)
        arrow(ax, (1.76, y), (2.25, y))
        box(ax, 2.95, y, 1.35, 0.5, f"amax = max|{name}|\ns{name} = 448 / amax", fc=YELLOW, fontsize=8)
        arrow(ax, (3.64, y), (4.2, y))
        box(ax, 4.85, y, 1.25, 0.5, f"{name}8 = fp8(s{name}·{name})\ne4m3, 1 byte", fc=ORANGE, fontsize=8)
    arrow(ax, (5.5, 2.85), (6.05, 2.35))
    arrow(ax, (5.5, 1.65), (6.05, 2.15))
    box(ax, 6.65, 2.25, 1.15, 0.7, "x8 · W8\nFP8 tensor cores\nfp32 sums", fc=PURPLE, fontsize=8)
    arrow(ax, (7.24, 2.25), (7.62, 2.25))
    box(ax, 8.15, 2.25, 0.95, 0.6, "÷ (sx·sW)\ny  bf16", fc=GREEN, fontsize=8)
    ax.text(3.9, 3.35, "extra kernels: each reads the whole tensor once more", ha="center", fontsize=8, color=RED)
    ax.text(6.65, 2.85, "2× bf16's rate", ha="center", fontsize=8, color=INK)
    ax.text(0.25, 0.95, "The backward pass does the same for its two products: the gradient of x (from the output's "
            "gradient and W)\nand the gradient of W (from x and the output's gradient). The products get faster; "
            "the scaling passes cost memory\ntraffic whatever the size. Only when the matrices are large does the "
            "first outweigh the second.", fontsize=8, color=MUTED, ha="left", va="center")
    ax.text(0.25, 0.42, "448: the largest e4m3 number (4 exponent bits, 3 mantissa bits). Scaling by it uses FP8's "
            "whole range, so the largest values keep their 3 mantissa bits.", fontsize=8, color=MUTED,
            ha="left", va="center")
    return fig


FIGURES = {
    "ch10_step_time": draw_step_time,
    "ch10_ddp": draw_ddp,
    "ch10_grad_accum": draw_grad_accum,
    "ch10_fp8_linear": draw_fp8_linear,
}
