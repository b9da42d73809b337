"""Chapter 9's diagrams: the Alpaca prompt template, padding and masking in collate, LoRA's update beside W."""

from __future__ import annotations

import style
from style import ACCENT, BLUE, GREEN, GREY, INK, MUTED, ORANGE, RED, YELLOW, arrow, box, canvas, grid


def draw_prompt_template():
    """One training record in the template: which lines are prompt (masked) and which are scored."""
    fig, ax = canvas(8.6, 4.1, "One record in the Alpaca template")
    lines = [  # (text, role)
        ("Below is an instruction that describes a task. Write a response that", "prompt"),
        ("appropriately completes the request.", "prompt"),
        ("", "gap"),
        ("### Instruction:", "prompt"),
        ("Edit the following sentence for grammar.", "prompt"),
        ("", "gap"),
        ("### Input:", "prompt"),
        ("He go to the park every day.", "prompt"),
        ("", "gap"),
        ("### Response:", "prompt"),
        ("He goes to the park every day.", "response"),
        ("<|endoftext|>", "end"),
    ]
    top, step, x0, w = 3.55, 0.255, 0.25, 5.6
    fills = {"prompt": BLUE, "response": GREEN, "end": YELLOW}
    for i, (text, role) in enumerate(lines):
        y = top - i * step
        if role == "gap":
            continue
        box(ax, x0 + w / 2, y, w, step * 0.92, "", fc=fills[role], ec="none", round_=False)
        ax.text(x0 + 0.1, y, text, ha="left", va="center", fontsize=9, family="DejaVu Sans Mono",
                fontweight="bold" if text.startswith("###") else "normal")
    # Brackets on the right: the prompt (format_prompt) and what is scored.
    def bracket(y_hi, y_lo, label, color):
        x = x0 + w + 0.15
        ax.plot([x, x + 0.12, x + 0.12, x], [y_hi, y_hi, y_lo, y_lo], color=color, lw=1.4)
        ax.text(x + 0.25, (y_hi + y_lo) / 2, label, ha="left", va="center", fontsize=9, color=color)

    y_of = lambda i: top - i * step  # noqa: E731
    bracket(y_of(0) + step / 2, y_of(9) - step / 2,
            "format_prompt(record)\n\nthe prompt: always given,\nnever to be written;\n"
            "targets set to −100\nwith mask_prompt=True", ACCENT)
    bracket(y_of(10) + step / 2, y_of(11) - step / 2, "record[\"output\"] + EOT:\nscored by the loss", "#3a7d32")
    ax.text(x0, 0.17, "A record with an empty input has no \"### Input:\" section. EOT (50256) ends every response, "
            "so the model learns to stop.", fontsize=8, color=MUTED, ha="left", va="center")
    return fig


def draw_collate():
    """The toy batch of the chapter: ragged ids, padded inputs x, targets y with −100 on prompt and padding."""
    fig, ax = canvas(8.6, 3.75, "collate: pad to one length, shift by one, mask with −100")
    EOT = "EOT"
    P, R, E, PAD, IGN = BLUE, GREEN, YELLOW, GREY, "#f4d6d5"
    cell = 0.5
    # Left: the two records as ragged lists of ids.
    ax.text(0.3, 2.95, "records (ids, n_prompt)", fontsize=9, fontweight="bold", ha="left")
    rows = [[11, 12, 13, 21, 22, EOT], [11, 12, 21, EOT]]
    roles = [[P, P, P, R, R, E], [P, P, R, E]]
    for r, (ids, cols) in enumerate(zip(rows, roles)):
        grid(ax, 0.3, 2.75 - r * 0.75, [ids], cell, colors=[cols], fontsize=9)
    ax.text(0.3 + 6 * cell + 0.08, 2.75 - cell / 2, "n_prompt=3", fontsize=8, va="center", color=MUTED)
    ax.text(0.3 + 4 * cell + 0.08, 2.0 - cell / 2, "n_prompt=2", fontsize=8, va="center", color=MUTED)
    arrow(ax, (3.75, 2.2), (4.35, 2.2))
    # Right: x and y, (B, T) = (2, 5).
    xs = [[11, 12, 13, 21, 22], [11, 12, 21, EOT, EOT]]
    x_cols = [[P, P, P, R, R], [P, P, R, E, PAD]]
    ys = [[-100, -100, 21, 22, EOT], [-100, 21, EOT, -100, -100]]
    y_cols = [[IGN, IGN, R, R, E], [IGN, R, E, IGN, IGN]]
    gx = 5.3
    ax.text(gx - 0.15, 2.75 - cell, "x", fontsize=11, fontweight="bold", ha="right", va="center")
    ax.text(gx, 2.95, "inputs x  (B, T) = (2, 5)", fontsize=9, fontweight="bold", ha="left")
    grid(ax, gx, 2.75, xs, cell, colors=x_cols, fontsize=9)
    ax.text(gx + 5 * cell + 0.1, 2.75 - 1.5 * cell, "padded\nwith EOT", fontsize=8, color=MUTED, va="center")
    ax.text(gx - 0.15, 1.3 - cell, "y", fontsize=11, fontweight="bold", ha="right", va="center")
    ax.text(gx, 1.5, "targets y = ids shifted left by one", fontsize=9, fontweight="bold", ha="left")
    grid(ax, gx, 1.3, ys, cell, colors=y_cols, fontsize=8.5)
    # Legend.
    for i, (fc, label) in enumerate([(P, "prompt"), (R, "response"), (E, "EOT: the stop signal, scored"),
                                     (PAD, "padding input"), (IGN, "−100: skipped by the loss")]):
        lx, ly = 0.3 + (i % 2) * 2.1, 1.05 - (i // 2) * 0.32
        box(ax, lx + 0.12, ly, 0.22, 0.22, "", fc=fc, round_=False, lw=0.6)
        ax.text(lx + 0.32, ly, label, fontsize=8.5, va="center", ha="left")
    ax.text(0.3, 0.1, "−100 on the prompt only with mask_prompt=True; on padding always (the first EOT stays a target).",
            fontsize=8, color=MUTED, ha="left", va="bottom")
    ax.set_ylim(-0.15, 3.6)
    return fig


def draw_lora():
    """y = W x + (α/r)·B A x: a frozen W beside two thin trainable matrices."""
    fig, ax = canvas(8.0, 4.5)
    ax.set_ylim(-0.3, 4.2)
    ax.text(4.0, 4.0, "LoRA: a frozen W plus a trainable low-rank update ΔW = (α/r)·B·A", ha="center", va="top",
            fontsize=11, fontweight="bold")
    # Input x at the bottom, output y at the top.
    box(ax, 4.0, 0.35, 1.6, 0.38, "x   (…, in)", fc=GREY, fontsize=9)
    box(ax, 4.0, 3.2, 2.6, 0.38, "y = W x + b + (α/r)·B A x", fc=GREY, fontsize=9)
    # The frozen weight: a big square.
    box(ax, 1.9, 1.75, 1.9, 1.9, "W\n(out × in)\nfrozen:\nrequires_grad=False", fc=BLUE, fontsize=9, ls="--")
    # A: r × in (short, wide); B: out × r (tall, thin).
    box(ax, 5.6, 1.1, 1.9, 0.32, "A  (r × in)", fc=ORANGE, fontsize=9)
    box(ax, 5.6, 2.25, 0.34, 1.2, "", fc=ORANGE)
    ax.text(5.9, 2.25, "B  (out × r)", fontsize=9, va="center", ha="left")
    ax.text(6.9, 1.1, "random init", fontsize=8, va="center", ha="left", color=MUTED)
    ax.text(6.9, 2.0, "zero init:\nBA = 0 at step 0", fontsize=8, va="center", ha="left", color=MUTED)
    ax.text(5.1, 1.55, "rank r = 8", fontsize=9, color=RED, ha="center")
    # Flow arrows.
    arrow(ax, (3.6, 0.55), (2.2, 0.78))
    arrow(ax, (4.4, 0.55), (5.3, 0.93))
    arrow(ax, (5.6, 1.27), (5.6, 1.63))
    arrow(ax, (1.9, 2.72), (3.3, 3.0))
    arrow(ax, (5.6, 2.87), (4.8, 3.0), "× α/r", offset=(0.15, 0.05), fontsize=8)
    ax.text(0.15, -0.15, "Trainable: r·(in + out) numbers per layer instead of in·out. After training, merge_lora "
            "folds W ← W + (α/r)·BA: a plain GPT again.", fontsize=8, color=MUTED, ha="left")
    return fig


FIGURES = {
    "ch09_prompt_template": draw_prompt_template,
    "ch09_collate": draw_collate,
    "ch09_lora": draw_lora,
}
