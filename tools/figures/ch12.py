"""Chapter 12's diagrams: the classification head on the last token, and the balanced passage split."""

from __future__ import annotations

import style
from style import ACCENT, BLUE, GREEN, GREY, INK, MUTED, ORANGE, PURPLE, RED, YELLOW, arrow, box, canvas, grid


def draw_head():
    """GPT-2's lm_head swapped for Linear(768, 2), read at each row's last real token."""
    fig, ax = canvas(8.8, 4.2, "GPTClassifier: a 2-class head on the last real token")
    tokens = ["Thou", "art", "a", "villain", "!", "EOT", "EOT"]
    n_real = 5
    x0, cell = 0.95, 0.62
    ax.text(x0 - 0.1, 0.45, "idx", ha="right", va="center", fontsize=9, fontweight="bold")
    for t, tokstr in enumerate(tokens):
        cx = x0 + (t + 0.5) * cell
        box(ax, cx, 0.45, cell - 0.06, 0.34, tokstr, fc=GREY if t >= n_real else BLUE, fontsize=8, round_=False)
    ax.text(x0 + n_real * cell + 0.02, 0.05, "padding (lengths = 5)", fontsize=8, color=MUTED, ha="left")
    box(ax, x0 + 3.5 * cell, 1.45, 7 * cell, 0.8, "GPT-2: wte + wpe → 12 blocks (causal attention) → ln_f", fc=GREEN,
        fontsize=9)
    arrow(ax, (x0 + 3.5 * cell, 0.65), (x0 + 3.5 * cell, 1.03))
    # Hidden states, one per position; only the last real one is read.
    for t in range(len(tokens)):
        cx = x0 + (t + 0.5) * cell
        box(ax, cx, 2.35, cell - 0.1, 0.36, "h", fc=YELLOW if t == n_real - 1 else "white", fontsize=8, round_=False,
            ec=ACCENT if t == n_real - 1 else MUTED, lw=1.6 if t == n_real - 1 else 0.6)
    ax.text(x0 - 0.1, 2.35, "(B, T, C)", ha="right", va="center", fontsize=8)
    arrow(ax, (x0 + 3.5 * cell, 1.87), (x0 + 3.5 * cell, 2.15))
    last_x = x0 + (n_real - 0.5) * cell
    ax.text(last_x - 0.15, 2.85, "h[lengths − 1]: the only position\nthat has seen the whole passage", fontsize=8,
            ha="right", va="bottom", color=ACCENT)
    # The swap: lm_head crossed out, head in.
    hx = 7.35
    box(ax, hx, 3.45, 2.6, 0.42, "lm_head: Linear(768, 50257)", fc="white", fontsize=8.5, ec=MUTED)
    ax.plot([hx - 1.3, hx + 1.3], [3.26, 3.64], color=RED, lw=1.5)
    ax.text(hx, 3.05, "replaced by nn.Identity()", fontsize=8, color=RED, ha="center")
    box(ax, hx, 2.35, 2.6, 0.46, "head: Linear(768, 2)  (1,538 params)", fc=ORANGE, fontsize=8.5)
    arrow(ax, (last_x, 2.55), (hx - 1.32, 2.45), rad=-0.35)
    ax.text(5.6, 2.95, "(B, C)", fontsize=8, ha="center")
    box(ax, hx, 1.2, 2.6, 0.62, "logits (B, 2)\n→ Shakespeare (0) or Wharton (1)", fc=PURPLE, fontsize=8.5)
    arrow(ax, (hx, 2.1), (hx, 1.53))
    return fig


def draw_split():
    """Two texts cut into passages, the same number drawn per class, then cut into train/val/test."""
    fig, ax = canvas(8.6, 3.5, "From two texts to balanced train / val / test passages")
    rows = [(2.55, "tinyshakespeare.txt", "10,563 passages", BLUE, "class 0"),
            (1.35, "the-verdict.txt", "160 passages", GREEN, "class 1")]
    for y, name, count, fc, label in rows:
        box(ax, 1.05, y, 1.75, 0.55, f"{name}\n({label})", fc=fc, fontsize=8.5)
        arrow(ax, (1.95, y), (2.55, y))
        for k in range(6):  # a strip of 32-token windows
            box(ax, 2.75 + k * 0.3, y, 0.26, 0.36, "", fc=fc, round_=False, lw=0.6)
        ax.text(3.6, y - 0.36, f"passages(ids, 32): {count}", fontsize=8, ha="center", va="top")
        arrow(ax, (4.55, y), (5.1, y), "shuffle,\ntake 80", offset=(-0.45, 0.32), fontsize=8)
        shares = [(0.6, "train 48"), (0.2, "val 16"), (0.2, "test 16")]
        left = 5.2
        for share, text in shares:
            w = 3.0 * share
            box(ax, left + w / 2, y, w, 0.45, text, fc=fc, round_=False, fontsize=8.5)
            left += w
    ax.text(4.3, 0.5, "per_class = 80 on the CPU: each split holds as many passages of each author, so always "
            "answering\none class scores 50%; no window is in two splits, and windows never overlap.",
            fontsize=8.5, ha="center", va="center")
    return fig


def draw_what_trains():
    """Three choices of what trains: the head only, the last block + ln_f + head, everything."""
    fig, ax = canvas(8.4, 4.0, "What to train: frozen (grey) or trainable (orange)")
    parts = ["head (2 classes)", "ln_f", "block 11", "blocks 0 … 10", "wte, wpe"]
    heights = [0.34, 0.3, 0.45, 1.05, 0.5]
    choices = [("head only", 1, "1,538"), ("last block + ln_f + head", 3, "7,090,946"), ("all", 5, "124,441,346")]
    for col, (name, n_train, params) in enumerate(choices):
        cx = 1.5 + col * 2.7
        y = 3.1
        for i, (part, h) in enumerate(zip(parts, heights)):
            box(ax, cx, y - h / 2, 2.1, h - 0.06, part, fc=ORANGE if i < n_train else GREY, fontsize=8.5,
                ls="-" if i < n_train else "--")
            y -= h
        ax.text(cx, 3.35, name, ha="center", va="center", fontsize=9.5, fontweight="bold")
        ax.text(cx, 0.2, f"{params} trainable", ha="center", va="center", fontsize=8.5)
    return fig


FIGURES = {
    "ch12_what_trains": draw_what_trains,
    "ch12_head": draw_head,
    "ch12_split": draw_split,
}
