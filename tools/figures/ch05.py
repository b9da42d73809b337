"""Chapter 5's diagrams: the whole GPT-2 with its tensor shapes, weight tying, and cross-entropy on small numbers."""

from __future__ import annotations

import math

from style import ACCENT, BLUE, GREEN, GREY, INK, MUTED, ORANGE, PURPLE, YELLOW, arrow, box, canvas, grid

# The hand-checkable example of the chapter's cross-entropy section (the notebook uses the same numbers).
VOCAB = ["every", "effort", "moves", "you"]
INPUTS = ["every", "effort", "moves"]  # the model reads these...
TARGETS = [1, 2, 3]  # ...and should predict effort, moves, you
LOGITS = [[1.0, 3.0, 0.0, 0.0], [0.0, 1.0, 2.0, 1.0], [2.0, 0.0, 1.0, 1.0]]


def softmax(row: list[float]) -> list[float]:
    e = [math.exp(v) for v in row]
    return [v / sum(e) for v in e]


def draw_gpt2_shapes():
    """GPT-2 124M top to bottom, modules in boxes, the tensor between them with its shape."""
    fig, ax = canvas(7.2, 6.3)
    mid, shape_x, param_x = 3.2, 4.35, 0.1

    def shape(y: float, text: str) -> None:
        ax.text(shape_x, y, text, ha="left", va="center", fontsize=9, color=ACCENT, family="DejaVu Sans Mono")

    def param(y: float, text: str) -> None:
        ax.text(param_x, y, text, ha="left", va="center", fontsize=8.5, color=MUTED)

    ax.text(mid, 6.05, "idx: token ids", ha="center", va="center", fontsize=10)
    shape(6.05, "(B, T)")
    box(ax, 2.45, 5.15, 1.2, 0.5, "wte", BLUE)
    box(ax, 4.0, 5.15, 1.2, 0.5, "wpe", BLUE)
    ax.text(5.0, 5.75, "pos = 0, 1, …, T−1", ha="left", va="center", fontsize=9)
    arrow(ax, (2.6, 5.9), (2.45, 5.42))
    arrow(ax, (5.3, 5.62), (4.25, 5.42))
    param(5.15, "wte (50257, 768)\nwpe (1024, 768)")
    ax.text(2.45, 4.72, "(B, T, 768)", ha="center", va="center", fontsize=8.5, color=ACCENT,
            family="DejaVu Sans Mono")
    ax.text(4.0, 4.72, "(T, 768)", ha="center", va="center", fontsize=8.5, color=ACCENT, family="DejaVu Sans Mono")
    box(ax, mid, 4.3, 0.42, 0.36, "+", GREY, fontsize=12)
    arrow(ax, (2.45, 4.6), (mid - 0.2, 4.35))
    arrow(ax, (4.0, 4.6), (mid + 0.2, 4.35))
    param(4.3, "broadcast over B")

    box(ax, mid, 3.15, 2.6, 1.2, "", GREEN)
    ax.text(mid, 3.52, "Block × n_layer (12)", ha="center", va="center", fontsize=10, fontweight="bold")
    ax.text(mid, 3.05, "x = x + attn(ln_1(x))\nx = x + mlp(ln_2(x))", ha="center", va="center", fontsize=9,
            family="DejaVu Sans Mono")
    arrow(ax, (mid, 4.1), (mid, 3.77))
    shape(3.95, "x (B, T, 768)")
    param(3.15, "chapters 3–4\n7.1M parameters each")

    box(ax, mid, 2.05, 1.2, 0.45, "ln_f", PURPLE)
    arrow(ax, (mid, 2.53), (mid, 2.29))
    shape(2.41, "(B, T, 768)")
    param(2.05, "the last block's\noutput, normalised")

    box(ax, mid, 1.15, 1.6, 0.5, "lm_head", ORANGE)
    arrow(ax, (mid, 1.81), (mid, 1.42))
    shape(1.62, "(B, T, 768)")
    param(1.15, "weight = wte's (tied)\n768 → 50257")

    ax.text(mid, 0.3, "logits: a score for every token", ha="center", va="center", fontsize=10)
    arrow(ax, (mid, 0.88), (mid, 0.45))
    shape(0.66, "(B, T, 50257)")
    return fig


def draw_matrix(ax, x: float, y_top: float, highlight: int | None, color: str, label: str) -> tuple[float, float]:
    """A tall wte-like matrix of 7 drawn rows (the middle ones stand for the rest); returns the highlighted row's y."""
    rows = [["" for _ in range(6)] for _ in range(7)]
    colors = [[color if i == highlight else "white" for _ in range(6)] for i in range(7)]
    grid(ax, x, y_top, rows, cell=0.27, colors=colors)
    ax.text(x + 0.81, y_top - 3.5 * 0.27 + 0.01, "⋮", ha="center", va="center", fontsize=10, color=MUTED)
    ax.text(x + 0.81, y_top + 0.22, label, ha="center", va="bottom", fontsize=9, family="DejaVu Sans Mono")
    return x, y_top - (highlight + 0.5) * 0.27 if highlight is not None else 0.0


def draw_weight_tying():
    """One matrix read two ways: a row lookup at the input, a dot product with every row at the output."""
    fig, ax = canvas(8.9, 3.9)
    top = 3.05
    ax.text(2.1, 3.7, "input: wte(idx) picks a row", ha="center", va="center", fontsize=10, fontweight="bold")
    ax.text(6.5, 3.7, "output: lm_head(h) = h · wteᵀ", ha="center", va="center", fontsize=10, fontweight="bold")

    # Left: token id i selects row i, which becomes the token's vector.
    _, y_row = draw_matrix(ax, 1.3, top, 2, ORANGE, "wte.weight (50257, 768)")
    ax.text(0.05, y_row, "token id i", ha="left", va="center", fontsize=9)
    arrow(ax, (0.85, y_row), (1.28, y_row))
    grid(ax, 1.3, 0.85, [["" for _ in range(6)]], cell=0.27, colors=[[ORANGE] * 6])
    arrow(ax, (2.95, y_row), (2.95, 0.72), rad=-0.5)
    ax.text(1.3, 0.32, "x = wte.weight[i] (768,),\ninto the first block", ha="left", va="center", fontsize=9)

    # Right: h meets every row; row j's dot product is token j's score.
    box(ax, 4.75, 2.1, 0.9, 0.45, "h (768,)", YELLOW, fontsize=9)
    ax.text(4.75, 1.65, "from ln_f", ha="center", va="center", fontsize=8.5, color=MUTED)
    draw_matrix(ax, 5.7, top, None, BLUE, "lm_head.weight")
    for k in range(7):
        if k != 3:
            ax.plot([5.22, 5.68], [2.1, top - (k + 0.5) * 0.27], color=MUTED, lw=0.6)
    for k, s in {0: "h·wte[0]", 1: "h·wte[1]", 2: "h·wte[2]", 6: "h·wte[50256]"}.items():
        ax.text(7.45, top - (k + 0.5) * 0.27, s, ha="left", va="center", fontsize=8, family="DejaVu Sans Mono")
    ax.text(7.7, top - 3.5 * 0.27, "⋮", ha="center", va="center", fontsize=10, color=MUTED)
    ax.plot([7.4, 7.4], [top, top - 7 * 0.27], color=INK, lw=0.8)
    ax.text(7.45, 0.78, "logits (50257,):\none score per row", ha="left", va="center", fontsize=9)

    # The tie itself.
    ax.annotate("", xy=(5.6, 0.85), xytext=(3.55, 0.85),
                arrowprops=dict(arrowstyle="<->", color=ACCENT, lw=1.2, ls="--"))
    ax.text(4.57, 0.65, "one tensor:\nlm_head.weight = wte.weight", ha="center", va="top", fontsize=9, color=ACCENT)
    return fig


def draw_cross_entropy():
    """Logits → softmax → the right token's probability → −log → the mean, on the chapter's 4-word example."""
    fig, ax = canvas(9.0, 3.3)
    cell, top, mid_y = 0.5, 2.45, 2.45 - 1.5 * 0.5
    probs = [softmax(row) for row in LOGITS]
    picked = [probs[t][TARGETS[t]] for t in range(3)]
    nll = [-math.log(p) for p in picked]
    target_colors = [[ORANGE if j == TARGETS[i] else "white" for j in range(4)] for i in range(3)]

    ax.text(0.05, top + 0.2, "reads → next", ha="left", va="center", fontsize=8.5, color=MUTED)
    for i, word in enumerate(INPUTS):
        ax.text(0.05, top - (i + 0.5) * cell, f"{word} → {VOCAB[TARGETS[i]]}", ha="left", va="center", fontsize=9)

    def header(x0: float, title: str, columns: list[str]) -> None:
        ax.text(x0 + len(columns) * cell / 2, top + 0.65, title, ha="center", va="center", fontsize=9.5,
                fontweight="bold")
        for j, c in enumerate(columns):
            ax.text(x0 + (j + 0.5) * cell, top + 0.2, c, ha="center", va="center", fontsize=8)

    def step(x0: float, x1: float, label: str) -> None:
        arrow(ax, (x0 + 0.06, mid_y), (x1 - 0.06, mid_y))
        ax.text((x0 + x1) / 2, mid_y + 0.12, label, ha="center", va="bottom", fontsize=8.5)

    x_logits = 1.2
    header(x_logits, "logits", VOCAB)
    grid(ax, x_logits, top, LOGITS, cell=cell, colors=target_colors, fmt="{:.0f}", fontsize=9)

    x_probs = 3.8
    step(x_logits + 4 * cell, x_probs, "softmax")
    header(x_probs, "probabilities", VOCAB)
    grid(ax, x_probs, top, [[round(p, 3) for p in row] for row in probs], cell=cell, colors=target_colors,
         fmt="{:.3f}", fontsize=8)

    x_pick = 6.25
    step(x_probs + 4 * cell, x_pick, "")
    header(x_pick, "p(next)", [""])
    grid(ax, x_pick, top, [[round(p, 3)] for p in picked], cell=cell, colors=[[ORANGE]] * 3, fmt="{:.3f}", fontsize=8)

    x_nll = 7.2
    step(x_pick + cell, x_nll, "−log")
    header(x_nll, "−log p", [""])
    grid(ax, x_nll, top, [[round(v, 3)] for v in nll], cell=cell, fmt="{:.3f}", fontsize=8)

    x_loss = 8.55
    step(x_nll + cell, x_loss - 0.37, "mean")
    box(ax, x_loss, mid_y, 0.74, 0.5, f"loss\n{sum(nll) / 3:.3f}", YELLOW, fontsize=9)

    ax.text(0.05, 0.35, "orange: the token that actually comes next. A sure, right guess costs −log 1 = 0; "
            "a uniform guess over V tokens costs ln V.", ha="left", va="center", fontsize=8.5)
    return fig


FIGURES = {
    "ch05_gpt2_shapes": draw_gpt2_shapes,
    "ch05_weight_tying": draw_weight_tying,
    "ch05_cross_entropy": draw_cross_entropy,
}
