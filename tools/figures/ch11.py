"""Chapter 11's diagrams: one block's computational graph forward and backward, one checkpoint in three frameworks."""

from __future__ import annotations

from matplotlib.patches import FancyArrowPatch

import style
from style import ACCENT, BLUE, GREEN, GREY, INK, MUTED, ORANGE, PURPLE, RED, YELLOW, arrow, box, canvas


def _curve(ax, start, end, color, rad, lw=1.2, ls="-"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=11, color=color, lw=lw, ls=ls,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=2, shrinkB=2))


def draw_block_graph():
    """A block as a graph: values flow right (forward), gradients flow left (backward), residual adds copy them."""
    fig, ax = canvas(8.8, 3.9, "One block, forward (values →) and backward (gradients ←)")
    y = 2.0
    nodes = [("x", 0.45, GREY), ("ln_1", 1.5, GREEN), ("attn", 2.65, ORANGE), ("+", 3.75, "white"),
             ("ln_2", 4.85, GREEN), ("mlp", 6.0, PURPLE), ("+", 7.1, "white"), ("out", 8.2, GREY)]
    for name, x, fc in nodes:
        if name == "+":
            ax.add_patch(__import__("matplotlib.patches", fromlist=["Circle"]).Circle((x, y), 0.2, fc=fc, ec=INK))
            ax.text(x, y, "+", ha="center", va="center", fontsize=12)
        else:
            box(ax, x, y, 0.8 if name not in ("x", "out") else 0.6, 0.46, name, fc=fc, fontsize=9.5)
    xs = [x for _, x, _ in nodes]
    half = [0.3, 0.4, 0.4, 0.2, 0.4, 0.4, 0.2, 0.3]
    for i in range(len(nodes) - 1):  # forward: values, left to right
        _curve(ax, (xs[i] + half[i], y + 0.08), (xs[i + 1] - half[i + 1], y + 0.08), INK, 0.0)
    # Residual connections: x skips to the first +, its output skips to the second.
    _curve(ax, (xs[0], y + 0.25), (xs[3], y + 0.2), INK, -0.35)
    _curve(ax, (xs[3], y + 0.2), (xs[6], y + 0.2), INK, -0.35)
    ax.text(2.1, 3.3, "residual stream", fontsize=8.5, color=MUTED, ha="center")
    # Backward: gradients, right to left, under the boxes.
    for i in range(len(nodes) - 1, 0, -1):
        _curve(ax, (xs[i] - half[i], y - 0.12), (xs[i - 1] + half[i - 1], y - 0.12), RED, 0.0)
    _curve(ax, (xs[3], y - 0.22), (xs[0], y - 0.28), RED, -0.35)
    _curve(ax, (xs[6], y - 0.22), (xs[3], y - 0.22), RED, -0.35)
    ax.text(8.2, 1.45, "∂L/∂out", ha="center", fontsize=8.5, color=RED)
    ax.text(0.45, 1.45, "∂L/∂x", ha="center", fontsize=8.5, color=RED)
    ax.text(4.4, 0.6, "At +, the incoming gradient is copied unchanged to both branches (the residual path and the "
            "layer);\nwhere a value fans out (x into ln_1 and the skip), the gradients coming back are added.",
            fontsize=8.5, color=INK, ha="center", va="center")
    ax.text(4.4, 0.12, "Each layer's backward takes its output's gradient and what its forward saved; it returns "
            "its input's gradient and its parameters'.", fontsize=8, color=MUTED, ha="center", va="center")
    ax.plot([6.5, 6.9], [3.3, 3.3], color=INK, lw=1.2)
    ax.text(6.95, 3.3, "forward: values X", fontsize=8.5, va="center")
    ax.plot([6.5, 6.9], [3.05, 3.05], color=RED, lw=1.2)
    ax.text(6.95, 3.05, "backward: X̄ = ∂L/∂X", fontsize=8.5, va="center", color=RED)
    return fig


def draw_three_frameworks():
    """OpenAI's checkpoint read three ways, run three ways, compared on the same tokens."""
    fig, ax = canvas(8.6, 3.8, "One checkpoint, three frameworks, one model")
    box(ax, 1.2, 1.9, 1.9, 1.1, "OpenAI's\nTF checkpoint\nmodel.ckpt.*\n(124M)", fc=YELLOW, fontsize=9)
    rows = [(3.0, "PyTorch: model.GPT", "read by from_openai (ch. 7)", "gradients: autograd", BLUE),
            (1.9, "NumPy: numpy_gpt", "read by ch. 7's TF-free reader", "gradients: by hand", GREEN),
            (0.8, "Keras 3 / TF: GPT2Keras", "read by tf.train.load_checkpoint", "gradients: GradientTape", ORANGE)]
    for y, model, reader, grads, fc in rows:
        arrow(ax, (2.15, 1.9 + (y - 1.9) * 0.3), (3.05, y))
        box(ax, 4.4, y, 2.6, 0.82, "", fc=fc)
        ax.text(4.4, y + 0.2, model, fontsize=9, ha="center", va="center", fontweight="bold")
        ax.text(4.4, y - 0.05, reader, fontsize=8, ha="center", va="center")
        ax.text(4.4, y - 0.25, grads, fontsize=8, ha="center", va="center")
        arrow(ax, (5.75, y), (6.6, 1.9 + (y - 1.9) * 0.3))
    box(ax, 7.5, 1.9, 1.75, 1.1, "same tokens →\nsame logits\n(float32, to\nrounding)", fc=GREY, fontsize=9)
    return fig


def draw_layernorm_graph():
    """LayerNorm's graph for one row: x -> mu, x - mu, r -> x_hat -> y; its backward in red."""
    fig, ax = canvas(8.6, 3.9, "LayerNorm as a graph: forward (values) and backward (gradients)")
    Y = 2.6
    nodes = {"x": (0.6, Y), "μ = mean(x)": (1.9, 1.6), "x − μ": (2.9, Y), "r = 1/√(σ² + ε)": (4.3, 1.6),
             "x̂ = (x − μ)·r": (5.5, Y), "y = g ⊙ x̂ + b": (7.5, Y)}
    widths = {"x": 0.6, "μ = mean(x)": 1.35, "x − μ": 0.95, "r = 1/√(σ² + ε)": 1.6, "x̂ = (x − μ)·r": 1.55,
              "y = g ⊙ x̂ + b": 1.65}
    fills = {"x": GREY, "y = g ⊙ x̂ + b": GREY}
    for name, (x, y) in nodes.items():
        box(ax, x, y, widths[name], 0.42, name, fc=fills.get(name, BLUE), fontsize=9)
    edges = [("x", "x − μ"), ("x", "μ = mean(x)"), ("μ = mean(x)", "x − μ"), ("x − μ", "r = 1/√(σ² + ε)"),
             ("x − μ", "x̂ = (x − μ)·r"), ("r = 1/√(σ² + ε)", "x̂ = (x − μ)·r"), ("x̂ = (x − μ)·r", "y = g ⊙ x̂ + b")]
    for a, b in edges:
        (xa, ya), (xb, yb) = nodes[a], nodes[b]
        start = (xa + widths[a] / 2, ya) if ya == yb else (xa + (0.2 if ya > yb else widths[a] / 2), ya + (-0.21 if ya > yb else 0))
        end = (xb - widths[b] / 2, yb) if ya == yb else (xb - (widths[b] / 2 if ya > yb else 0.2), yb + (0 if ya > yb else -0.21))
        arrow(ax, start, end)
    box(ax, 7.5, 3.35, 1.3, 0.34, "g, b  (C)", fc=ORANGE, fontsize=8.5)
    arrow(ax, (7.5, 3.17), (7.5, 2.83))
    # The backward pass, right to left, in red.
    ax.text(7.6, 2.15, "ȳ (from the layer above)", color=RED, fontsize=8.5, ha="center")
    ax.text(7.6, 1.75, "ḡ = Σ ȳ ⊙ x̂,  b̄ = Σ ȳ\n(sums over rows)", color=RED, fontsize=8.5, ha="center", va="center")
    ax.text(6.15, 2.15, "d = ∂L/∂x̂ = ȳ ⊙ g", color=RED, fontsize=8.5, ha="center")
    box(ax, 4.3, 0.55, 7.9, 0.55, "", fc="white", ec=RED)
    ax.text(4.3, 0.55, "x̄ = r · ( d − mean(d) − x̂ ⊙ mean(d ⊙ x̂) )      (B, T, C), means over the row's C features",
            color=RED, fontsize=9, ha="center", va="center")
    ax.text(4.3, 1.05, "x feeds μ, x − μ and (through it) r: its gradient sums the three paths, which the formula "
            "does in one line", fontsize=8, color=MUTED, ha="center")
    return fig


FIGURES = {
    "ch11_block_graph": draw_block_graph,
    "ch11_layernorm_graph": draw_layernorm_graph,
    "ch11_three_frameworks": draw_three_frameworks,
}
