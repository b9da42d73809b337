"""Draw the book's map: GPT-2's architecture, each part labelled with the chapter that builds it.

    python tools/draw_architecture.py   # writes book/_static/architecture.svg (committed; re-run after editing)
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "book" / "_static" / "architecture.svg"

# (label, chapter(s), y centre, colour); the model is read bottom to top, as data flows through it
PARTS = [
    ("text → token ids\nbyte-level BPE", "1", 0.6, "#dbe9f6"),
    ("token embedding wte + position embedding wpe", "2", 1.7, "#dbe9f6"),
    ("LayerNorm ln_1", "4", 2.9, "#fde9d9"),
    ("causal multi-head self-attention", "3", 3.7, "#fde9d9"),
    ("LayerNorm ln_2", "4", 4.7, "#fde9d9"),
    ("MLP: Linear → GELU → Linear", "4", 5.5, "#fde9d9"),
    ("final LayerNorm ln_f", "5", 6.8, "#e2f0d9"),
    ("head tied to wte → logits (B, T, 50257)", "5", 7.6, "#e2f0d9"),
    ("next token: greedy, top-k, top-p; KV cache", "6", 8.7, "#ede4f5"),
]
SIDE = [  # what acts on the whole model: (label, chapters, y)
    ("OpenAI's weights, read\nwithout TensorFlow", "7", 7.2),
    ("training from scratch,\noverfitting", "8", 5.6),
    ("fine-tuning", "9", 4.4),
    ("fast training,\nlarger data", "10", 3.2),
    ("the same model in\nNumPy, PyTorch, TensorFlow", "11", 2.0),
]


def box(ax, x: float, y: float, w: float, h: float, text: str, chapter: str, colour: str) -> None:
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                fc=colour, ec="#444444", lw=1.0))
    ax.text(x, y, text, ha="center", va="center", fontsize=9.5)
    ax.text(x - w / 2 + 0.05, y + h / 2 - 0.05, f"ch. {chapter}", ha="left", va="top", fontsize=7.5,
            color="white", fontweight="bold", bbox=dict(boxstyle="round,pad=0.15", fc="#1f4e79", ec="none"))


def arrow(ax, x0: float, y0: float, x1: float, y1: float, **kw) -> None:
    ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=10, color="#444444",
                                 lw=1.0, **kw))


def main() -> None:
    plt.rcParams["svg.hashsalt"] = "gpt2-from-scratch"  # stable ids: the SVG changes only when the drawing does
    fig, ax = plt.subplots(figsize=(9, 7.2))
    ax.set(xlim=(-0.3, 9.4), ylim=(0.1, 9.2))
    ax.axis("off")
    x, w, h = 3.3, 4.6, 0.6
    ax.add_patch(FancyBboxPatch((x - w / 2 - 0.25, 2.45), w + 0.5, 3.55, boxstyle="round,pad=0.02,rounding_size=0.1",
                                fc="none", ec="#c0504d", lw=1.4, ls="--"))
    ax.text(x + w / 2 + 0.25, 6.08, "one transformer block, × 12 (ch. 4)", ha="right", va="bottom", fontsize=9,
            color="#c0504d")
    for (text, chapter, y, colour), nxt in zip(PARTS, PARTS[1:] + [None]):
        box(ax, x, y, w, h, text, chapter, colour)
        if nxt is not None:
            arrow(ax, x, y + h / 2, x, nxt[2] - h / 2)
    for y_from, y_to in ((2.55, 4.15), (4.35, 5.95)):  # the residual stream goes around each sub-layer
        ax.annotate("", xy=(x - w / 2 - 0.02, y_to), xytext=(x - w / 2 - 0.02, y_from),
                    arrowprops=dict(arrowstyle="-|>", color="#7f7f7f", lw=1.0, connectionstyle="arc3,rad=-0.5"))
    ax.text(x - w / 2 - 0.45, 4.25, "residual\nx + f(x)", ha="right", va="center", fontsize=8, color="#7f7f7f")
    sx, sw, sh = 7.8, 2.9, 0.8
    for text, chapter, y in SIDE:
        box(ax, sx, y, sw, sh, text, chapter, "#f2f2f2")
    ax.text(sx, 8.2, "working with the\nwhole model", ha="center", va="center", fontsize=10, fontstyle="italic")
    ax.set_title("GPT-2 124M, read from bottom to top: the chapter that builds each part", fontsize=11)
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, format="svg", metadata={"Date": None})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
