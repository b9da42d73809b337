"""Chapter 4's diagrams: the block on the residual stream, pre-LN against post-LN, and the MLP's widths."""

from __future__ import annotations

from matplotlib.patches import Circle

from style import ACCENT, BLUE, GREEN, GREY, INK, MUTED, PURPLE, RED, YELLOW, arrow, box, canvas


def plus(ax, x: float, y: float, r: float = 0.14, ec: str = INK) -> None:
    """The ⊕ of a residual addition, centred at (x, y)."""
    ax.add_patch(Circle((x, y), r, fc="white", ec=ec, lw=1.2, zorder=3))
    ax.plot([x - r * 0.6, x + r * 0.6], [y, y], color=ec, lw=1.2, zorder=4)
    ax.plot([x, x], [y - r * 0.6, y + r * 0.6], color=ec, lw=1.2, zorder=4)


def line(ax, points, color: str = INK, lw: float = 1.2) -> None:
    xs, ys = zip(*points)
    ax.plot(xs, ys, color=color, lw=lw, solid_capstyle="round")


def draw_block_residual():
    """The residual stream runs straight through; ln_1 → attn and ln_2 → mlp read a copy and add back."""
    fig, ax = canvas(8.8, 3.4, "One GPT-2 block: two branches that read the residual stream and add to it")
    y = 0.95
    line(ax, [(0.9, y), (3.65, y)], color=ACCENT, lw=4)
    line(ax, [(3.95, y), (6.85, y)], color=ACCENT, lw=4)
    arrow(ax, (7.15, y), (7.75, y), color=ACCENT, lw=2)
    ax.text(0.15, y + 0.3, "x  (B, T, C)", fontsize=9, fontweight="bold")
    ax.text(7.55, y + 0.3, "(B, T, C)", fontsize=9, fontweight="bold")
    ax.text(2.5, y + 0.15, "residual stream", fontsize=9, color=ACCENT, ha="center")
    for x_branch, x_plus, names, fc, shape in [(1.2, 3.8, ("ln_1", "attn"), BLUE, "tokens exchange information"),
                                                (4.3, 7.0, ("ln_2", "mlp"), GREEN, "each token on its own")]:
        yb = 2.2
        line(ax, [(x_branch, y), (x_branch, yb)])
        arrow(ax, (x_branch, yb), (x_branch + 0.35, yb))
        box(ax, x_branch + 0.75, yb, 0.75, 0.45, names[0], fc=YELLOW, fontsize=10)
        arrow(ax, (x_branch + 1.13, yb), (x_branch + 1.4, yb))
        box(ax, x_branch + 1.85, yb, 0.85, 0.45, names[1], fc=fc, fontsize=10)
        line(ax, [(x_branch + 2.28, yb), (x_plus, yb)])
        arrow(ax, (x_plus, yb), (x_plus, y + 0.15))
        plus(ax, x_plus, y)
        ax.text(x_branch + 1.85, yb + 0.38, shape, ha="center", fontsize=8.5, color=MUTED)
    ax.text(3.95, y - 0.35, "x = x + attn(ln_1(x))", fontsize=9, ha="center", family="monospace")
    ax.text(7.0, y - 0.35, "x = x + mlp(ln_2(x))", fontsize=9, ha="center", family="monospace")
    ax.text(0.15, 0.15, "Each branch sees a normalised copy of the stream; the stream itself is never normalised "
            "inside the block.", fontsize=9, color=ACCENT)
    return fig


def column(ax, x: float, steps, title: str, ln_edge: str = INK) -> None:
    """A vertical data flow: steps are (kind, text) from bottom to top; kind is 'ln', 'f', 'plus' or 'io'."""
    ax.text(x, 4.15, title, ha="center", fontsize=10, fontweight="bold")
    y = 0.6
    prev = None
    for kind, text in steps:
        if kind == "plus":
            plus(ax, x, y)
            top_, bottom = y + 0.14, y - 0.14
        else:
            fc = {"ln": YELLOW, "f": BLUE, "io": GREY}[kind]
            box(ax, x, y, 1.2, 0.34, text, fc=fc, fontsize=9, ec=ln_edge if kind == "ln" else INK, lw=1.6 if kind == "ln" else 1.0)
            top_, bottom = y + 0.17, y - 0.17
        if prev is not None:
            arrow(ax, (x, prev), (x, bottom))
        prev = top_
        y += 0.5


def draw_pre_vs_post_ln():
    """Post-LN puts LayerNorm on the residual path after each addition; pre-LN (GPT-2) puts it on the branch."""
    fig, ax = canvas(8.6, 4.9, "Where the LayerNorm goes: post-LN (2017) and pre-LN (GPT-2)")
    # post-LN: x → (+ attn(x)) → ln → (+ mlp) → ln
    xp = 2.0
    steps = [("io", "x"), ("plus", ""), ("ln", "ln_1"), ("plus", ""), ("ln", "ln_2"), ("io", "next block")]
    column(ax, xp, steps, "post-LN (Transformer, GPT-1)", ln_edge=RED)
    for y_plus, name in [(1.1, "attn"), (2.1, "mlp")]:
        yb = y_plus - 0.5
        line(ax, [(xp, yb + 0.2), (xp - 1.05, yb + 0.2), (xp - 1.05, y_plus)])
        box(ax, xp - 1.05, y_plus + 0.05, 0.7, 0.32, name, fc=BLUE, fontsize=9)
        line(ax, [(xp - 1.05, y_plus + 0.21), (xp - 1.05, y_plus + 0.3)])
        arrow(ax, (xp - 1.05, y_plus + 0.3), (xp - 0.15, y_plus + 0.02), rad=-0.3)
    ax.text(xp, 3.65, "x = ln_1(x + attn(x))\nx = ln_2(x + mlp(x))", ha="center", fontsize=9, family="monospace")
    ax.text(xp, 0.05, "LayerNorm on the stream:\nthe gradient passes through 2·n_layer of them", ha="center",
            fontsize=8.5, color=RED)
    # pre-LN
    xq = 5.9
    ax.text(xq + 0.5, 4.15, "pre-LN (GPT-2)", ha="center", fontsize=10, fontweight="bold")
    ys = [0.6, 1.55, 2.55, 3.3]
    box(ax, xq, ys[0], 1.2, 0.34, "x", fc=GREY, fontsize=9)
    plus(ax, xq, ys[1])
    plus(ax, xq, ys[2])
    box(ax, xq, ys[3], 1.2, 0.34, "next block", fc=GREY, fontsize=9)
    line(ax, [(xq, ys[0] + 0.17), (xq, ys[1] - 0.14)], color=ACCENT, lw=3)
    line(ax, [(xq, ys[1] + 0.14), (xq, ys[2] - 0.14)], color=ACCENT, lw=3)
    arrow(ax, (xq, ys[2] + 0.14), (xq, ys[3] - 0.17), color=ACCENT, lw=2)
    for y_plus, names in [(ys[1], ("ln_1", "attn")), (ys[2], ("ln_2", "mlp"))]:
        yb = y_plus - 0.55
        line(ax, [(xq, yb + 0.1), (xq + 0.6, yb + 0.1)])
        box(ax, xq + 1.0, yb + 0.1, 0.7, 0.32, names[0], fc=YELLOW, fontsize=9)
        arrow(ax, (xq + 1.35, yb + 0.1), (xq + 1.55, yb + 0.1))
        box(ax, xq + 1.9, yb + 0.1, 0.7, 0.32, names[1], fc=BLUE, fontsize=9)
        line(ax, [(xq + 1.9, yb + 0.26), (xq + 1.9, y_plus)])
        arrow(ax, (xq + 1.9, y_plus), (xq + 0.16, y_plus))
    ax.text(xq + 0.5, 3.65, "x = x + attn(ln_1(x))\nx = x + mlp(ln_2(x))", ha="center", fontsize=9, family="monospace")
    ax.text(xq + 0.5, 0.05, "only additions on the stream:\nd(output)/d(x) always contains the identity", ha="center",
            fontsize=8.5, color=ACCENT)
    ax.plot([4.1, 4.1], [0.1, 4.3], color=GREY, lw=1)
    return fig


def draw_mlp():
    """Per token: 768 → c_fc → 3,072 → GELU → c_proj → 768; bar heights drawn to scale."""
    fig, ax = canvas(8.4, 3.9, "The MLP, for each token on its own: widen four times, GELU, project back")
    yc = 2.05
    scale = 2.2 / 3072
    stages = [(0.7, 768, GREY, "x\n(B, T, 768)"), (3.1, 3072, BLUE, "c_fc(x)\n(B, T, 3072)"),
              (5.1, 3072, PURPLE, "GELU\n(B, T, 3072)"), (7.5, 768, GREEN, "c_proj(·)\n(B, T, 768)")]
    for x, n, fc, text in stages:
        h = n * scale
        box(ax, x, yc, 0.35, h, "", fc=fc, round_=False)
        ax.text(x, yc - 1.2, text, ha="center", va="top", fontsize=9)
    for (x0, n0, _, _), (x1, n1, _, _), name in zip(stages, stages[1:],
                                                    ["mlp.c_fc\n768 × 3072 + 3072", "GELU (tanh)\nelementwise",
                                                     "mlp.c_proj\n3072 × 768 + 768"]):
        arrow(ax, (x0 + 0.25, yc), (x1 - 0.25, yc))
        ax.text((x0 + x1) / 2, yc + 0.12, name, ha="center", va="bottom", fontsize=8.5)
    ax.text(0.2, 0.1, "8·C² + 5·C = 4,722,432 parameters at C = 768: two-thirds of a block.", fontsize=9,
            color=ACCENT)
    return fig


FIGURES = {
    "ch04_block_residual": draw_block_residual,
    "ch04_pre_vs_post_ln": draw_pre_vs_post_ln,
    "ch04_mlp": draw_mlp,
}
