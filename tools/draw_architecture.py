"""Draw the book's map: GPT-2's architecture, each part labelled with the chapter that builds it and the module of
`gpt2_lib` it lives in; the appendices, with their modules, along the bottom.

    python tools/draw_architecture.py   # writes book/_static/architecture.svg (committed; re-run after editing)
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "book" / "_static" / "architecture.svg"

# (label, chapter, module, y centre, colour); the model is read bottom to top, as data flows through it
PARTS = [
    ("text → token ids: byte-level BPE", "1", "tokenizer", 1.9, "#dbe9f6"),
    ("token embedding wte + position embedding wpe", "2", "model (GPT.wte, GPT.wpe)", 2.9, "#dbe9f6"),
    ("LayerNorm ln_1", "4", "block", 4.0, "#fde9d9"),
    ("causal multi-head self-attention", "3", "attention", 4.8, "#fde9d9"),
    ("LayerNorm ln_2", "4", "block", 5.8, "#fde9d9"),
    ("MLP: Linear → GELU → Linear", "4", "block", 6.6, "#fde9d9"),
    ("final LayerNorm ln_f", "5", "model", 7.8, "#e2f0d9"),
    ("head tied to wte → logits (B, T, 50257)", "5", "model", 8.6, "#e2f0d9"),
    ("next token: greedy, top-k, top-p; KV cache", "6", "generate, gpt2_lib.kv_cache", 9.6, "#ede4f5"),
]
SIDE = [  # what acts on the whole model: (label, chapter, modules, y)
    ("OpenAI's weights", "7", "pretrained", 9.3),
    ("training from scratch", "8", "train, data, plots", 8.2),
    ("fine-tuning, LoRA", "9", "finetune, lora", 7.1),
    ("fine-tuning as a classifier", "12", "classify", 6.0),
    ("fast training", "10", "speed, cross_entropy, bench", 4.9),
    ("one model, three frameworks", "11", "numpy_gpt, tf_gpt", 3.8),
]
APPENDICES = [  # infrastructure a reader may skip: (letter, label, modules)
    ("A", "TensorFlow\ncheckpoints", "tf_checkpoint, testing"),
    ("B", "fast\ndecoding", "decoding"),
    ("C", "training runs\nthat survive", "prepare, checkpoint,\ninterrupt"),
    ("D", "many GPUs,\nCUDA graphs", "distributed, cuda_graph"),
    ("E", "the command\nline", "finetune_cli,\nclassify_cli"),
]


def tag(ax, x: float, y: float, text: str, colour: str = "#1f4e79") -> None:
    ax.text(x, y, text, ha="left", va="top", fontsize=7.5, color="white", fontweight="bold",
            bbox=dict(boxstyle="round,pad=0.15", fc=colour, ec="none"))


def box(ax, x: float, y: float, w: float, h: float, text: str, chapter: str, module: str, colour: str) -> None:
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                fc=colour, ec="#444444", lw=1.0))
    ax.text(x, y + 0.07 + 0.1 * module.count("\n"), text, ha="center", va="center", fontsize=9.5)
    tag(ax, x - w / 2 + 0.05, y + h / 2 - 0.05, chapter)
    ax.text(x + w / 2 - 0.06, y - h / 2 + 0.05, module, ha="right", va="bottom", fontsize=7.5,
            family="monospace", color="#555555")


def arrow(ax, x0: float, y0: float, x1: float, y1: float, **kw) -> None:
    ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=10, color="#444444",
                                 lw=1.0, **kw))


def main() -> None:
    plt.rcParams["svg.hashsalt"] = "gpt2-from-scratch"  # stable ids: the SVG changes only when the drawing does
    fig, ax = plt.subplots(figsize=(10, 8.4))
    ax.set(xlim=(-0.6, 10.4), ylim=(-0.48, 10.25))
    ax.axis("off")
    x, w, h = 3.3, 4.8, 0.62
    ax.add_patch(FancyBboxPatch((x - w / 2 - 0.25, 3.55), w + 0.5, 3.55, boxstyle="round,pad=0.02,rounding_size=0.1",
                                fc="none", ec="#c0504d", lw=1.4, ls="--"))
    ax.text(x + w / 2 + 0.25, 7.18, "one transformer block, × 12 (ch. 4)", ha="right", va="bottom", fontsize=9,
            color="#c0504d")
    for (text, chapter, module, y, colour), nxt in zip(PARTS, PARTS[1:] + [None]):
        box(ax, x, y, w, h, text, f"ch. {chapter}", f"gpt2_lib.{module}", colour)
        if nxt is not None:
            arrow(ax, x, y + h / 2, x, nxt[3] - h / 2)
    for y_from, y_to in ((3.65, 5.25), (5.45, 7.05)):  # the residual stream goes around each sub-layer
        ax.annotate("", xy=(x - w / 2 - 0.02, y_to), xytext=(x - w / 2 - 0.02, y_from),
                    arrowprops=dict(arrowstyle="-|>", color="#7f7f7f", lw=1.0, connectionstyle="arc3,rad=-0.5"))
    ax.text(x - w / 2 - 0.45, 5.35, "residual\nx + f(x)", ha="right", va="center", fontsize=8, color="#7f7f7f")
    sx, sw, sh = 8.35, 3.4, 0.82
    for text, chapter, modules, y in SIDE:
        box(ax, sx, y, sw, sh, text, f"ch. {chapter}", modules, "#f2f2f2")
    ax.text(sx, 10.05, "working with the whole model", ha="center", va="center", fontsize=10, fontstyle="italic")
    ax.plot([-0.5, 10.3], [1.28, 1.28], color="#bbbbbb", lw=0.8, ls=":")
    ax.text(-0.5, 1.2, "Appendices: the plumbing a reader may skip", ha="left", va="top", fontsize=9.5,
            fontstyle="italic")
    aw, ah = 1.95, 1.12
    for k, (letter, text, modules) in enumerate(APPENDICES):
        ax_x = 0.55 + k * 2.15
        box(ax, ax_x, 0.18, aw, ah, text, letter, modules, "#fff8e1")
    ax.set_title("GPT-2 124M, read from bottom to top: the chapter that builds each part, and where it lives",
                 fontsize=11)
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, format="svg", metadata={"Date": None})
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
