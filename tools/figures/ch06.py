"""Chapter 6's diagrams: the autoregressive loop, the KV cache growing, and top-k / top-p cutting a distribution."""

from __future__ import annotations

from matplotlib.patches import Rectangle

from style import ACCENT, BLUE, GREEN, GREY, INK, MUTED, ORANGE, RED, arrow, box, canvas

# An example next-word distribution, sorted (made up for the figure; the chapter's own numbers come from its model).
WORDS = ["the", "a", "his", "my", "our", "this", "that", "your", "her", "its"]
PROBS = [0.30, 0.20, 0.14, 0.10, 0.08, 0.06, 0.05, 0.04, 0.02, 0.01]


def draw_autoregressive_loop():
    """Three steps of the loop: the whole sequence in, the last position's distribution out, one token appended."""
    fig, ax = canvas(8.6, 3.7)
    steps = [(["Every", "effort", "moves"], "you", [0.45, 0.2, 0.15, 0.1]),
             (["Every", "effort", "moves", "you"], "forward", [0.3, 0.25, 0.15, 0.1]),
             (["Every", "effort", "moves", "you", "forward"], ".", [0.35, 0.2, 0.2, 0.1])]
    ys = [3.05, 1.85, 0.65]
    w, gap, x0, gpt_x, bars_x = 0.72, 0.78, 0.75, 5.25, 6.05
    for k, ((tokens, chosen, bars), y) in enumerate(zip(steps, ys)):
        ax.text(0.05, y, f"step {k + 1}", ha="left", va="center", fontsize=9, color=MUTED)
        for i, t in enumerate(tokens):
            new = k > 0 and i == len(tokens) - 1
            box(ax, x0 + i * gap + w / 2, y, w, 0.42, t, ORANGE if new else BLUE, fontsize=8.5)
        last = x0 + (len(tokens) - 1) * gap + w
        arrow(ax, (last + 0.05, y), (gpt_x - 0.42, y))
        box(ax, gpt_x, y, 0.8, 0.5, "GPT", GREEN, fontsize=10, fontweight="bold")
        arrow(ax, (gpt_x + 0.42, y), (bars_x - 0.05, y))
        for j, p in enumerate(bars):  # the distribution at the last position; the first bar is the chosen token
            ax.add_patch(Rectangle((bars_x + j * 0.2, y - 0.3), 0.15, p * 1.3, fc=ORANGE if j == 0 else GREY,
                                   ec=INK, lw=0.6))
        ax.text(bars_x + 0.95, y, f"→  {chosen!r}", ha="left", va="center", fontsize=9)
        if k < 2:
            x_new = x0 + len(tokens) * gap + w / 2
            arrow(ax, (bars_x + 1.25, y - 0.2), (x_new + 0.1, ys[k + 1] + 0.24), rad=-0.12, color=ACCENT)
            ax.text(bars_x + 1.4, y - 0.5, "append,\nfeed again", ha="left", va="center", fontsize=8.5, color=ACCENT)
    ax.text(bars_x + 0.3, 3.55, "p(next) at the last position", ha="center", va="center", fontsize=8.5, color=MUTED)
    return fig


def draw_kv_cache():
    """One step with a cache: the new token's q, k, v; k and v written at its position; attention over 0..t."""
    fig, ax = canvas(8.8, 3.9)
    cell, n_slots, t = 0.36, 8, 4
    k_x0, v_x0, row_y = 0.9, 5.0, 1.75

    def cache(x0: float, name: str) -> None:
        for p in range(n_slots):
            fc = BLUE if p < t else ORANGE if p == t else "white"
            ax.add_patch(Rectangle((x0 + p * cell, row_y), cell, cell, fc=fc, ec=INK, lw=0.7,
                                   ls="-" if p <= t else ":"))
            ax.text(x0 + (p + 0.5) * cell, row_y + cell / 2, f"{name}{p}" if p <= t else "", ha="center",
                    va="center", fontsize=8)
            ax.text(x0 + (p + 0.5) * cell, row_y - 0.14, str(p), ha="center", va="center", fontsize=7.5, color=MUTED)
        ax.text(x0 - 0.1, row_y + cell / 2, name.upper(), ha="right", va="center", fontsize=10, fontweight="bold")

    cache(k_x0, "k")
    cache(v_x0, "v")
    ax.text(k_x0 + n_slots * cell / 2, row_y - 0.37, "position", ha="center", va="center", fontsize=8, color=MUTED)
    ax.text(v_x0 + n_slots * cell / 2, row_y - 0.37, "position", ha="center", va="center", fontsize=8, color=MUTED)

    # The new token: its q, k and v are the only projections this step computes.
    mid = (k_x0 + n_slots * cell + v_x0) / 2
    box(ax, mid, 3.55, 1.35, 0.42, "new token x4", ORANGE, fontsize=9)
    box(ax, mid, 2.85, 0.9, 0.4, "c_attn", GREEN, fontsize=9)
    arrow(ax, (mid, 3.33), (mid, 3.06))
    arrow(ax, (mid - 0.46, 2.8), (k_x0 + (t + 0.5) * cell, row_y + cell + 0.02), rad=0.25)
    arrow(ax, (mid + 0.46, 2.8), (v_x0 + (t + 0.5) * cell, row_y + cell + 0.02), rad=-0.25)
    ax.text(mid - 1.25, 2.85, "k4", ha="center", va="center", fontsize=9)
    ax.text(mid + 1.25, 2.85, "v4", ha="center", va="center", fontsize=9)
    box(ax, mid, row_y + cell / 2, 0.55, 0.36, "q4", ORANGE, fontsize=9)
    arrow(ax, (mid, 2.64), (mid, row_y + cell + 0.02))

    # Attention for the new query, over positions 0..t only; later slots are allocated but still empty.
    ax.plot([k_x0, k_x0 + (t + 1) * cell], [row_y - 0.55] * 2, color=ACCENT, lw=1.2)
    ax.text(k_x0, row_y - 0.64, "scores q4 · kj / √head_size for j = 0…4,\nsoftmax → weights w0…w4", ha="left",
            va="top", fontsize=9, color=ACCENT)
    ax.plot([v_x0, v_x0 + (t + 1) * cell], [row_y - 0.55] * 2, color=ACCENT, lw=1.2)
    ax.text(v_x0, row_y - 0.64, "y4 = w0·v0 + … + w4·v4", ha="left", va="top", fontsize=9, color=ACCENT)

    # Legend.
    for i, (fc, ls, label) in enumerate([(BLUE, "-", "computed at earlier steps, read from the cache"),
                                         (ORANGE, "-", "computed now, written at cache.pos"),
                                         ("white", ":", "preallocated up to block_size, still empty")]):
        x = (0.15, 3.3, 5.85)[i]
        ax.add_patch(Rectangle((x, 0.2), 0.22, 0.22, fc=fc, ec=INK, lw=0.7, ls=ls))
        ax.text(x + 0.3, 0.31, label, ha="left", va="center", fontsize=8)
    return fig


def bars(ax, x0: float, y0: float, kept: int, title: str, cut_label: str) -> None:
    """The example distribution as bars; the first `kept` survive the cut, the rest drop to probability zero."""
    scale, step, width = 6.0, 0.38, 0.3
    ax.text(x0 + 1.9, y0 + 2.25, title, ha="center", va="center", fontsize=10, fontweight="bold")
    for i, (word, p) in enumerate(zip(WORDS, PROBS)):
        keep = i < kept
        ax.add_patch(Rectangle((x0 + i * step, y0), width, p * scale, fc=BLUE if keep else GREY,
                               ec=INK if keep else MUTED, lw=0.7, hatch=None if keep else "///"))
        ax.text(x0 + i * step + width / 2, y0 + p * scale + 0.1, f"{p:.2f}".lstrip("0"), ha="center", va="bottom",
                fontsize=7.5, color=INK if keep else MUTED)
        ax.text(x0 + i * step + width / 2, y0 - 0.12, word, ha="center", va="top", fontsize=8, rotation=90,
                color=INK if keep else MUTED)
    x_cut = x0 + kept * step - (step - width) / 2
    ax.plot([x_cut, x_cut], [y0 - 0.05, y0 + 2.0], color=RED, lw=1.4, ls="--")
    ax.text(x_cut + 0.08, y0 + 1.9, cut_label, ha="left", va="center", fontsize=8.5, color=RED)
    ax.text(x_cut + 0.08, y0 + 1.15, "logit → −inf,\np → 0", ha="left", va="center", fontsize=8.5, color=MUTED)
    mass = sum(PROBS[:kept])
    renorm = ", ".join(f"{p / mass:.2f}" for p in PROBS[:kept])
    ax.text(x0, y0 - 0.85, f"kept mass {mass:.2f}; sampled as {renorm}", ha="left", va="center", fontsize=8.5)


def draw_top_k_top_p():
    """The same sorted distribution cut two ways: a fixed count (top-k) or a fixed mass (top-p)."""
    fig, ax = canvas(8.8, 3.6)
    bars(ax, 0.25, 1.15, 3, "top-k, k = 3: keep the 3 most likely", "k = 3")
    cumulative = 0.0
    for kept, p in enumerate(PROBS):  # the smallest prefix whose mass reaches p = 0.7, as filter_logits keeps it
        if cumulative >= 0.7:
            break
        cumulative += p
    bars(ax, 4.7, 1.15, kept, "top-p, p = 0.7: keep the smallest set\nwhose mass reaches 0.7", "mass ≥ 0.7")
    return fig


FIGURES = {
    "ch06_autoregressive_loop": draw_autoregressive_loop,
    "ch06_kv_cache": draw_kv_cache,
    "ch06_top_k_top_p": draw_top_k_top_p,
}
