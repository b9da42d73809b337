"""Chapter 3's diagrams: Q, K, V and the T×T scores, the causal mask, splitting heads, the fused c_attn."""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle

from style import ACCENT, BLUE, GREEN, GREY, INK, MUTED, ORANGE, PURPLE, YELLOW, arrow, box, canvas

# The chapter's toy example: four tokens of width 3, d_k = 2, weights from default_rng(123) (sections 1-5).
X = np.array([[1.0, 0.0, 1.0], [0.0, 2.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def toy_attention():
    """Q, K, V, the scaled scores and the weights without and with the causal mask, as the chapter computes them."""
    rng = np.random.default_rng(123)
    w_q, w_k, w_v = (rng.standard_normal((3, 2)) for _ in range(3))
    q, k, v = X @ w_q, X @ w_k, X @ w_v
    scores = q @ k.T / np.sqrt(2)

    def softmax(s):
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    masked = np.where(np.tril(np.ones((4, 4), dtype=bool)), scores, -np.inf)
    return q, k, v, scores, softmax(scores), softmax(masked)


def table(ax, x: float, y: float, values, cw: float, ch: float, fc, fmt: str = "{:.2f}", fontsize: float = 8.5,
          colors=None) -> None:
    """A grid of cw × ch cells with its top-left corner at (x, y); values may be strings."""
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            fill = colors[i][j] if colors is not None else fc
            ax.add_patch(Rectangle((x + j * cw, y - (i + 1) * ch), cw, ch, fc=fill, ec=INK, lw=0.6))
            text = v if isinstance(v, str) else fmt.format(v)
            ax.text(x + (j + 0.5) * cw, y - (i + 0.5) * ch, text, ha="center", va="center", fontsize=fontsize)


def label(ax, x: float, y: float, text: str, **kw) -> None:
    ax.text(x, y, text, ha="center", va="bottom", fontsize=9, **kw)


def draw_qkv_scores():
    """X → Q, K, V by three matrices; S = Q Kᵀ / √d_k is T × T; softmax by rows; the weights times V give Z."""
    q, k, v, scores, weights, _ = toy_attention()
    fig, ax = canvas(9.0, 5.2, "Queries, keys and values, and the T × T score matrix")
    cw, ch = 0.46, 0.28
    # X
    xx, top = 0.15, 3.3
    table(ax, xx, top, X, 0.3, ch, GREY, "{:.0f}")
    label(ax, xx + 0.45, top + 0.05, "X  (T, 3)")
    for t in range(4):
        ax.text(xx + 0.95, top - (t + 0.5) * ch, f"t={t}", va="center", fontsize=8, color=MUTED)
    # Q, K, V
    xq = 1.85
    rows = {"Q = X W_q": (q, BLUE, 4.5), "K = X W_k": (k, ORANGE, 3.05), "V = X W_v": (v, GREEN, 1.6)}
    for name, (m, fc, y) in rows.items():
        table(ax, xq, y, m, cw, ch, fc)
        label(ax, xq + cw, y + 0.05, name + "  (T, d_k)")
        arrow(ax, (xx + 1.25, top - 2 * ch), (xq - 0.05, y - 2 * ch), color=MUTED, lw=0.9)
    # S
    xs, ys = 3.55, 3.75
    table(ax, xs, ys, scores, cw, ch, YELLOW)
    label(ax, xs + 2 * cw, ys + 0.05, "S = Q Kᵀ / √d_k  (T, T)")
    for j in range(4):
        ax.text(xs + (j + 0.5) * cw, ys - 4 * ch - 0.15, f"key {j}", ha="center", va="center", fontsize=8,
                color=MUTED)
    arrow(ax, (xq + 2 * cw + 0.05, 4.5 - 2 * ch), (xs - 0.05, ys - 1.2 * ch), color=INK, lw=0.9)
    arrow(ax, (xq + 2 * cw + 0.05, 3.05 - 2 * ch), (xs - 0.05, ys - 2.8 * ch), "Kᵀ", color=INK, lw=0.9,
          offset=(0.05, -0.15))
    # A
    xa = xs + 4 * cw + 0.55
    table(ax, xa, ys, weights, cw, ch, PURPLE)
    label(ax, xa + 2 * cw, ys + 0.05, "softmax over each row")
    arrow(ax, (xs + 4 * cw + 0.05, ys - 2 * ch), (xa - 0.05, ys - 2 * ch), color=INK, lw=0.9)
    ax.text(xa + 4 * cw + 0.08, ys - 2 * ch, "rows\nsum to 1", va="center", fontsize=8, color=MUTED)
    # Z
    xz, yz = xa + 0.4, 1.95
    table(ax, xz, yz, weights @ v, cw, ch, GREEN)
    label(ax, xz + cw, yz + 0.05, "Z = softmax(S) V  (T, d_k)")
    arrow(ax, (xa + 2 * cw, ys - 4 * ch - 0.05), (xz + cw, yz + 0.3), color=INK, lw=0.9)
    arrow(ax, (xq + 2 * cw + 0.05, 1.6 - 2 * ch), (xz - 0.05, yz - 2 * ch), color=INK, lw=0.9)
    ax.text(0.15, 0.15, "Row i of S scores query i against every key; row i of Z is the weighted sum of the values. "
            "Numbers: the chapter's\ntoy example (T = 4, d_k = 2), no mask yet.", fontsize=8.5, color=ACCENT)
    return fig


def draw_causal_mask():
    """Scaled scores with −∞ above the diagonal; softmax by rows gives weights that are 0 above the diagonal."""
    _, _, _, scores, _, masked_weights = toy_attention()
    fig, ax = canvas(8.4, 3.2, "The causal mask: token i attends only to tokens 0 … i")
    cw, ch = 0.6, 0.36
    top = 2.45
    shown = [[f"{scores[i, j]:.2f}" if j <= i else "−∞" for j in range(4)] for i in range(4)]
    colors = [[YELLOW if j <= i else GREY for j in range(4)] for i in range(4)]
    x1 = 0.75
    table(ax, x1, top, shown, cw, ch, None, colors=colors, fontsize=9)
    label(ax, x1 + 2 * cw, top + 0.08, "scores + mask  (T, T)")
    for i in range(4):
        ax.text(x1 - 0.1, top - (i + 0.5) * ch, f"query {i}", ha="right", va="center", fontsize=8, color=MUTED)
        ax.text(x1 + (i + 0.5) * cw, top - 4 * ch - 0.15, f"key {i}", ha="center", va="center", fontsize=8,
                color=MUTED)
    x2 = x1 + 4 * cw + 1.45
    arrow(ax, (x1 + 4 * cw + 0.15, top - 2 * ch), (x2 - 0.15, top - 2 * ch), "softmax\nby rows", color=INK,
          offset=(-0.35, 0.3))
    colors2 = [[PURPLE if j <= i else "white" for j in range(4)] for i in range(4)]
    table(ax, x2, top, [[f"{masked_weights[i, j]:.2f}" for j in range(4)] for i in range(4)], cw, ch, None,
          colors=colors2, fontsize=9)
    label(ax, x2 + 2 * cw, top + 0.08, "attention weights  (T, T)")
    for i in range(4):
        ax.text(x2 + 4 * cw + 0.1, top - (i + 0.5) * ch, f"sum {masked_weights[i].sum():.0f}", va="center",
                fontsize=8, color=MUTED)
        ax.text(x2 + (i + 0.5) * cw, top - 4 * ch - 0.15, f"key {i}", ha="center", va="center", fontsize=8,
                color=MUTED)
    ax.text(0.2, 0.2, "e^−∞ = 0, so every key after the query gets weight 0 and each row is normalised over "
            "keys 0 … i alone.", fontsize=9, color=ACCENT)
    return fig


def draw_split_heads():
    """(B, T, C) → view (B, T, nh, hs) → transpose (B, nh, T, hs); attention per head; back to (B, T, C)."""
    fig, ax = canvas(8.8, 4.4, "Splitting C into n_head heads, and merging them back (C = 6, n_head = 2)")
    T, C, hs = 4, 6, 3
    head_fc = [BLUE, ORANGE]
    c = 0.28

    def tc_grid(x, y, cols):
        cells = [[str(j) for j in cols] for _ in range(T)]
        table(ax, x, y, cells, c, c, None, colors=[[head_fc[j // hs] for j in cols] for _ in range(T)], fontsize=8)

    top = 3.1
    x1, x2, x3, x4 = 0.3, 2.95, 5.05, 6.75
    head_top = [3.55, 2.05]
    tc_grid(x1, top, range(C))
    label(ax, x1 + 3 * c, top + 0.08, "q  (B, T, C)")
    ax.text(x1 + 3 * c, top - T * c - 0.1, "rows: the T tokens\nnumbers: feature index", ha="center", va="top",
            fontsize=8, color=MUTED)
    for h, y in enumerate(head_top):
        arrow(ax, (x1 + C * c + 0.1, top - 2 * c), (x2 - 0.1, y - 2 * c), color=INK, lw=0.9)
        tc_grid(x2, y, range(h * hs, (h + 1) * hs))
        ax.text(x2 + hs * c + 0.1, y - 2 * c, f"head {h}\n(T, hs)", va="center", fontsize=8.5)
        arrow(ax, (x2 + hs * c + 0.75, y - 2 * c), (x3 - 0.05, y - 2 * c), color=MUTED, lw=0.9)
        box(ax, x3 + 0.55, y - 2 * c, 1.1, 0.5, "attention\nper head", fc=PURPLE, fontsize=8.5)
        arrow(ax, (x3 + 1.15, y - 2 * c), (x4 - 0.1, top - 2 * c), color=MUTED, lw=0.9)
    ax.text(x1 + 1.1, 3.7, "split: .view(B, T, nh, hs).transpose(1, 2)", fontsize=8.5, ha="center")
    ax.text(x2 + 1.5 * c, 0.72, "(B, nh, T, hs)", ha="center", fontsize=9)
    tc_grid(x4, top, range(C))
    label(ax, x4 + 3 * c, top + 0.08, "y  (B, T, C)")
    ax.text(x4 + 3 * c, top - T * c - 0.1, ".transpose(1, 2)\n.view(B, T, C),\nthen attn.c_proj", ha="center",
            va="top", fontsize=8.5)
    ax.text(0.3, 0.15, "Head h works on features h·hs … (h+1)·hs − 1 of every token: GPT-2 124M has 12 heads of "
            "hs = 64 in C = 768.", fontsize=9, color=ACCENT)
    return fig


def draw_fused_c_attn():
    """x (B, T, C) @ c_attn = (B, T, 3C), whose three C-wide slices are q, k and v."""
    fig, ax = canvas(8.8, 3.3, "The fused projection: one c_attn computes q | k | v")
    top, h = 2.5, 1.4
    yc = top - h / 2
    box(ax, 0.6, yc, 0.8, h, "x\n(B, T, C)", fc=GREY, round_=False, fontsize=9)
    ax.text(1.25, yc, "@", ha="center", va="center", fontsize=16)
    xw, wc = 1.5, 0.7
    for j, (name, fc) in enumerate([("W_q", BLUE), ("W_k", ORANGE), ("W_v", GREEN)]):
        box(ax, xw + (j + 0.5) * wc, yc, wc, h, f"{name}\n(C, C)", fc=fc, round_=False, fontsize=9)
    label(ax, xw + 1.5 * wc, top + 0.05, "c_attn weight (in, out): (C, 3C)")
    ax.text(xw + 3 * wc + 0.25, yc, "=", ha="center", va="center", fontsize=16)
    xo = xw + 3 * wc + 0.5
    for j, (name, fc) in enumerate([("q", BLUE), ("k", ORANGE), ("v", GREEN)]):
        box(ax, xo + (j + 0.5) * wc, yc, wc, h, name, fc=fc, round_=False, fontsize=11)
    label(ax, xo + 1.5 * wc, top + 0.05, "qkv  (B, T, 3C)")
    arrow(ax, (xo + 3 * wc + 0.05, yc), (xo + 3 * wc + 0.4, yc), color=INK)
    ax.text(xo + 3 * wc + 0.5, yc, "qkv.split(C, dim=2)\n→ q, k, v: (B, T, C) each\n→ then split into heads",
            va="center", fontsize=9)
    ax.text(0.2, 0.25, "One (C, 3C) matrix product instead of three (C, C) ones, with the same result: the fused "
            "weight is\nW_q, W_k, W_v side by side. nn.Linear stores it transposed: (3C, C) = (2304, 768) in GPT-2.",
            fontsize=9, color=ACCENT)
    return fig


FIGURES = {
    "ch03_qkv_scores": draw_qkv_scores,
    "ch03_causal_mask": draw_causal_mask,
    "ch03_split_heads": draw_split_heads,
    "ch03_fused_c_attn": draw_fused_c_attn,
}
