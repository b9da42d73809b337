"""Chapter 8's diagrams: the training loop, the learning-rate schedule (gpt2_lib's own get_lr), gradient
accumulation, and train and val losses parting when a model overfits."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import style
from style import ACCENT, BLUE, GREEN, GREY, MUTED, ORANGE, YELLOW, arrow, box, canvas

MONO = "DejaVu Sans Mono"


def draw_training_loop():
    """One update of train(): micro-batches forward and backward, clip, AdamW step, zero_grad; evals on the side."""
    fig, ax = canvas(8.8, 5.3, "One step of train(): an update, repeated max_steps times")
    # the data, once
    box(ax, 1.0, 3.75, 1.6, 0.6, "train.bin\n(uint16 token ids)", fc=GREY, fontsize=8.5)
    arrow(ax, (1.8, 3.75), (2.35, 3.75), color=MUTED)
    ax.text(1.0, 3.27, "written once by prepare()", ha="center", va="top", fontsize=8, color=MUTED)
    # the micro-batch loop, left to right
    steps = [(3.2, "batch\nx, y = next_batch()\n(B, T) each", BLUE), (5.0, "forward\nlogits, loss =\nmodel(x, y)", BLUE),
             (7.45, "backward\n(loss / grad_accum_steps)\n.backward()", BLUE)]
    for x, text, colour in steps:
        box(ax, x, 3.75, 1.6 if x < 7 else 2.2, 0.85, text, fc=colour, fontsize=8.5)
    arrow(ax, (4.0, 3.75), (4.2, 3.75))
    arrow(ax, (5.8, 3.75), (6.35, 3.75))
    arrow(ax, (7.2, 4.2), (3.4, 4.2), color=ACCENT, rad=0.12)
    ax.text(5.3, 4.68, "repeated for grad_accum_steps micro-batches: their gradients add up in .grad", ha="center", fontsize=8.5,
            color=ACCENT)
    # then one update, right to left
    update = [(7.45, "clip the gradient's\nglobal norm to 1.0", ORANGE), (5.0, "AdamW step\nlr = get_lr(step)", ORANGE),
              (2.55, "zero_grad()\nstep += 1", ORANGE)]
    for x, text, colour in update:
        box(ax, x, 2.3, 1.9, 0.7, text, fc=colour, fontsize=8.5)
    arrow(ax, (7.45, 3.32), (7.45, 2.65))
    arrow(ax, (6.5, 2.3), (5.95, 2.3))
    arrow(ax, (4.05, 2.3), (3.5, 2.3))
    arrow(ax, (2.1, 2.65), (2.7, 3.32), "next step", fontsize=8, offset=(-0.95, 0.0))
    # on the side: evaluation and checkpoints
    box(ax, 4.4, 0.85, 7.9, 0.95, fc=GREEN)
    ax.text(4.4, 1.12, "every eval_every steps: evaluate() — the mean loss on fixed val and train batches, in eval mode",
            ha="center", va="center", fontsize=8.5)
    ax.text(4.4, 0.85, "then on_eval(step, model): e.g. print a sample, measure memorisation",
            ha="center", va="center", fontsize=8.5)
    ax.text(4.4, 0.58, "every save_every steps: a checkpoint that resumes exactly (weights, AdamW's moments, RNGs)",
            ha="center", va="center", fontsize=8.5)
    arrow(ax, (2.55, 1.95), (2.55, 1.35), color=MUTED)
    return fig


def draw_lr_schedule():
    """gpt2_lib.train.get_lr itself, over the chapter's demo run, with its three phases labelled."""
    from gpt2_lib.train import TrainConfig, get_lr

    cfg = TrainConfig(max_steps=400, warmup_steps=40, learning_rate=3e-3)  # the chapter's demo schedule
    steps = np.arange(cfg.max_steps)
    lrs = np.array([get_lr(int(s), cfg) for s in steps]) * 1e3
    fig, ax = plt.subplots(figsize=(7.6, 3.6), facecolor="white")
    ax.axvspan(0, cfg.warmup_steps, color=style.YELLOW, lw=0)
    ax.plot(steps, lrs, color=style.ACCENT, lw=2)
    ax.axhline(0.3, color=style.MUTED, ls=":", lw=1)
    ax.set(xlim=(0, cfg.max_steps), ylim=(0, 3.6), xlabel="step", ylabel="learning rate (× 10⁻³)")
    ax.set_title("get_lr(step, cfg): warmup, then cosine decay  (max_steps=400, warmup_steps=40, lr=3e-3)",
                 fontsize=10)
    ax.annotate("warmup: linear over 40 steps\n(2 / (1 − β₂) for β₂ = 0.95). At first\nAdam moves every weight by "
                "≈ lr,\nso lr starts small", xy=(20, 1.55), xytext=(55, 0.62), fontsize=8.5,
                arrowprops=dict(arrowstyle="-|>", color=style.INK, lw=0.8))
    ax.annotate("peak: learning_rate", xy=(40, 3.0), xytext=(62, 3.25), fontsize=8.5,
                arrowprops=dict(arrowstyle="-|>", color=style.INK, lw=0.8))
    ax.text(215, 1.95, "cosine decay: min_lr + ½ (1 + cos πp) (lr − min_lr),\np from 0 at step 40 to 1 at max_steps",
            fontsize=8.5, ha="left")
    ax.text(55, 0.36, "floor: min_lr = learning_rate / 10", fontsize=8.5, color=style.MUTED)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def draw_grad_accumulation():
    """Two micro-batches of 2 rows give one update equal to that of one batch of 4."""
    fig, ax = canvas(8.6, 3.9, "Gradient accumulation: grad_accum_steps = 2 micro-batches of 2 rows, one update")
    for i, (rows, colour) in enumerate([("x[:2], y[:2]", BLUE), ("x[2:], y[2:]", GREEN)]):
        y = 2.95 - 1.05 * i
        box(ax, 1.05, y, 1.7, 0.6, f"micro-batch {i + 1}\n{rows}", fc=colour, fontsize=8.5)
        arrow(ax, (1.9, y), (2.4, y))
        box(ax, 3.35, y, 1.8, 0.6, f"loss{'₁₂'[i]} = model(x, y)\nforward", fc=colour, fontsize=8.5)
        arrow(ax, (4.25, y), (4.75, y))
        box(ax, 5.55, y, 1.5, 0.6, f"(loss{'₁₂'[i]} / 2)\n.backward()", fc=colour, fontsize=8.5, family=MONO)
        arrow(ax, (6.3, y), (6.85, 2.45 if i == 0 else 2.35))
    box(ax, 7.6, 2.4, 1.45, 1.25, fc=YELLOW)
    ax.text(7.6, 2.75, ".grad", ha="center", va="center", fontsize=9, family=MONO, fontweight="bold")
    ax.text(7.6, 2.35, "= ½ ∇loss₁\n+ ½ ∇loss₂", ha="center", va="center", fontsize=8.5)
    arrow(ax, (7.6, 1.77), (7.6, 1.3))
    box(ax, 7.6, 1.0, 1.6, 0.55, "clip, AdamW step,\nzero_grad()", fc=ORANGE, fontsize=8.5)
    ax.text(0.2, 0.85, "= the gradient of the mean loss over one batch of 4 rows: the same update, with half the\n"
            "activations in memory at once.  Without the ÷ 2, .grad is twice too large: plain SGD would step\n"
            "twice as far; AdamW mostly divides it away, but clipping at 1.0 sees a doubled norm.",
            fontsize=8.5, va="center")
    return fig


def draw_overfitting():
    """A schematic: train loss keeps falling, val loss turns; the best val loss is where early stopping keeps the
    model, and the gap between the curves grows as the model memorises."""
    steps = np.linspace(0, 10, 300)
    train = 0.6 + 6.6 * np.exp(-0.45 * steps)
    val = 3.0 + 4.2 * np.exp(-0.6 * steps) + 0.1 * steps
    best = int(np.argmin(val))
    fig, ax = plt.subplots(figsize=(7.4, 3.8), facecolor="white")
    ax.axvspan(steps[best], 10, color=style.ORANGE, lw=0)
    ax.plot(steps, train, color=style.ACCENT, lw=2)
    ax.plot(steps, val, color=style.RED, lw=2)
    ax.text(9.9, train[-1] + 0.15, "train loss", ha="right", va="bottom", fontsize=9, color=style.ACCENT)
    ax.text(9.9, val[-1] + 0.15, "val loss", ha="right", va="bottom", fontsize=9, color=style.RED)
    ax.axhline(7.26, color=style.MUTED, ls=":", lw=1)
    ax.text(9.9, 7.12, "ln V: a model that knows nothing", ha="right", va="top", fontsize=8.5, color=style.MUTED)
    ax.plot([steps[best]], [val[best]], "o", color=style.RED)
    ax.annotate("best val loss:\nearly stopping keeps this model", xy=(steps[best], val[best]),
                xytext=(0.25, 1.2), fontsize=8.5, arrowprops=dict(arrowstyle="-|>", color=style.INK, lw=0.8))
    x = 8.2
    i = int(np.searchsorted(steps, x))
    ax.annotate("", xy=(x, train[i] + 0.05), xytext=(x, val[i] - 0.05),
                arrowprops=dict(arrowstyle="<|-|>", color=style.INK, lw=0.8))
    ax.text(x + 0.12, (train[i] + val[i]) / 2, "gap = val − train:\nit grows as the model\nmemorises",
            fontsize=8.5, va="center")
    ax.text((steps[best] + 10) / 2, 7.75, "overfitting: learning the training text by heart",
            ha="center", fontsize=8.5)
    ax.text(steps[best] / 2, 7.75, "learning what generalises", ha="center", fontsize=8.5)
    ax.set(xlim=(0, 10), ylim=(0, 8.2), xlabel="steps (passes over the training text) →", ylabel="loss")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("Overfitting, schematically: the curves part", fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


FIGURES = {
    "ch08_training_loop": draw_training_loop,
    "ch08_lr_schedule": draw_lr_schedule,
    "ch08_grad_accumulation": draw_grad_accumulation,
    "ch08_overfitting": draw_overfitting,
}
