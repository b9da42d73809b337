"""Chapter 7's diagrams: OpenAI's checkpoint files, its tensor names mapped onto ours, the Conv1D transpose, and
the fused c_attn cut into q, k and v."""

from __future__ import annotations

import style
from style import ACCENT, BLUE, GREEN, GREY, INK, MUTED, ORANGE, PURPLE, RED, YELLOW, arrow, box, canvas, grid

MONO = "DejaVu Sans Mono"  # tensor names line up as in the chapter's printed tables


def draw_tensorbundle():
    """The index (a sorted table read from its footer) and the data file (tensors back to back) of model.ckpt."""
    fig, ax = canvas(8.6, 5.3, "A TensorFlow checkpoint: model.ckpt.index says where each tensor lies in the data file")
    ax.text(2.15, 4.62, "model.ckpt.index (5,215 bytes)", ha="center", fontsize=9.5, fontweight="bold", family=MONO)
    x, w = 2.15, 3.5
    box(ax, x, 3.73, w, 1.55, fc=BLUE, round_=False)
    ax.text(x - w / 2 + 0.1, 4.33, "data block: entries sorted by key", fontsize=9, fontweight="bold", va="center")
    for i, (key, value) in enumerate([('""', "header"), ("model/h0/attn/c_attn/b", "entry"),
                                      ("model/h0/attn/c_attn/w", "entry"), ("…  (148 tensors)", ""),
                                      ("model/wte", "entry")]):
        y = 4.1 - 0.22 * i
        ax.text(x - w / 2 + 0.2, y, key, fontsize=8, family=MONO, va="center",
                color=RED if "c_attn/w" in key else INK)
        if value:
            ax.text(x + w / 2 - 0.15, y, f"→ {value}", fontsize=8, va="center", ha="right")
    ax.text(x - w / 2 + 0.1, 3.09, "+ restart offsets, trailer (type, masked crc32c)", fontsize=8, color=MUTED,
            va="center")
    box(ax, x, 2.7, w, 0.34, "metaindex block (empty) + trailer", fc=GREY, fontsize=8.5, round_=False)
    box(ax, x, 2.23, w, 0.5, fc=GREEN, round_=False)
    ax.text(x, 2.33, "index block: key 'n' → data block", fontsize=8.5, ha="center", va="center")
    ax.text(x, 2.12, "(offset 0, size 5,129) + trailer", fontsize=8.5, ha="center", va="center")
    box(ax, x, 1.65, w, 0.58, fc=YELLOW, round_=False)
    ax.text(x, 1.75, "footer, 48 bytes: two block handles,", fontsize=8.5, ha="center", va="center")
    ax.text(x, 1.54, "padding, magic 0xdb4775248b80fb57", fontsize=8.5, ha="center", va="center")
    # a reader starts at the end: footer -> index block -> data block
    arrow(ax, (x - w / 2 - 0.05, 1.65), (x - w / 2 - 0.05, 2.23), color=ACCENT, rad=-0.6)
    ax.text(0.12, 1.93, "1", color=ACCENT, fontsize=10, fontweight="bold", ha="center", va="center")
    arrow(ax, (x - w / 2 - 0.05, 2.23), (x - w / 2 - 0.05, 3.73), color=ACCENT, rad=-0.45)
    ax.text(0.1, 3.0, "2", color=ACCENT, fontsize=10, fontweight="bold", ha="center", va="center")

    # one entry, decoded: a BundleEntryProto
    ex, ey = 6.55, 3.6
    box(ax, ex, ey, 3.55, 1.6, fc=ORANGE)
    ax.text(ex, ey + 0.6, "entry of model/h0/attn/c_attn/w", fontsize=9, fontweight="bold", ha="center", va="center")
    for i, line in enumerate(["dtype   1 (float32)", "shape   [1, 768, 2304]", "offset  9,216",
                              "size    7,077,888 bytes", "crc32c  masked checksum"]):
        ax.text(ex - 1.45, ey + 0.3 - 0.22 * i, line, fontsize=8.5, family=MONO, va="center")
    arrow(ax, (x + w / 2, 3.66), (ex - 1.8, ey + 0.05), color=ACCENT)
    ax.text(4.3, 3.87, "3", color=ACCENT, fontsize=10, fontweight="bold", ha="center", va="center")

    # the data file: tensors back to back, in the index's order
    segments = [("c_attn/b", 0.55, GREEN), ("c_attn/w", 1.3, ORANGE), ("c_proj/b", 0.55, GREEN),
                ("c_proj/w", 0.7, BLUE), ("ln, mlp …", 0.85, BLUE), ("h1 … h11 (h10, h11 before h2)", 2.2, GREY),
                ("ln_f", 0.4, BLUE), ("wpe", 0.45, PURPLE), ("wte", 1.3, PURPLE)]
    left, bar_y = 0.15, 0.72
    for name, width, colour in segments:
        box(ax, left + width / 2, bar_y, width, 0.45, name, fc=colour, fontsize=8, round_=False)
        if name == "c_attn/w":
            cw = (left, left + width)
        left += width
    ax.text(0.15, bar_y + 0.32, "byte 0", fontsize=8, color=MUTED)
    ax.text(left, bar_y + 0.32, "497,759,232", fontsize=8, color=MUTED, ha="right")
    ax.text(cw[0] + 0.05, bar_y + 0.32, "9,216 … 7,087,104", fontsize=8, color=RED)
    ax.text(4.3, 0.22, "model.ckpt.data-00000-of-00001 (497,759,232 bytes): float32 numbers, back to back",
            ha="center", fontsize=9.5, fontweight="bold")
    arrow(ax, (ex - 0.3, ey - 0.8), ((cw[0] + cw[1]) / 2 + 0.3, bar_y + 0.5), color=ACCENT, rad=-0.15)
    ax.text(4.75, 2.0, "4", color=ACCENT, fontsize=10, fontweight="bold", ha="center", va="center")
    return fig


NAMES = [  # (OpenAI's name, its shape, our name, our shape)
    ("model/wte", "(50257, 768)", "transformer.wte.weight", "(50257, 768)"),
    ("model/wpe", "(1024, 768)", "transformer.wpe.weight", "(1024, 768)"),
    ("model/h0/ln_1/g", "(768,)", "transformer.h.0.ln_1.weight", "(768,)"),
    ("model/h0/ln_1/b", "(768,)", "transformer.h.0.ln_1.bias", "(768,)"),
    ("model/h0/attn/c_attn/w", "(1, 768, 2304)", "transformer.h.0.attn.c_attn.weight", "(2304, 768)"),
    ("model/h0/attn/c_attn/b", "(2304,)", "transformer.h.0.attn.c_attn.bias", "(2304,)"),
    ("model/h0/mlp/c_fc/w", "(1, 768, 3072)", "transformer.h.0.mlp.c_fc.weight", "(3072, 768)"),
    ("model/h11/mlp/c_proj/w", "(1, 3072, 768)", "transformer.h.11.mlp.c_proj.weight", "(768, 3072)"),
    ("model/ln_f/g", "(768,)", "transformer.ln_f.weight", "(768,)"),
    ("(no tensor)", "", "lm_head.weight  = wte (tied)", "(50257, 768)"),
]


def draw_checkpoint_names():
    """OpenAI's 148 names and shapes onto gpt2_lib's (and transformers'): a renaming, plus one transpose."""
    fig, ax = canvas(8.8, 4.9, "OpenAI's tensor names → gpt2_lib's (the same as transformers')")
    ax.text(0.15, 4.3, "OpenAI's checkpoint", fontsize=10, fontweight="bold")
    ax.text(4.45, 4.3, "our GPT's state_dict", fontsize=10, fontweight="bold")
    for i, (theirs, their_shape, ours, our_shape) in enumerate(NAMES):
        y = 3.95 - 0.3 * i
        transposed = theirs.endswith("/w")
        if transposed:
            ax.add_patch(style.Rectangle((0.08, y - 0.14), 8.64, 0.28, fc=ORANGE, ec="none"))
        colour = MUTED if theirs.startswith("(") else INK
        ax.text(0.15, y, theirs, fontsize=8.5, family=MONO, va="center", color=colour)
        ax.text(2.05, y, their_shape, fontsize=8.5, family=MONO, va="center", color=MUTED)
        if not theirs.startswith("("):
            arrow(ax, (3.2, y), (4.35, y), "transpose" if transposed else "", color=RED if transposed else INK,
                  fontsize=8, offset=(-0.4, 0.09))
        ax.text(4.45, y, ours, fontsize=8.5, family=MONO, va="center")
        ax.text(7.55, y, our_shape, fontsize=8.5, family=MONO, va="center", color=RED if transposed else MUTED)
    box(ax, 4.4, 0.45, 8.6, 0.62, fc=YELLOW)
    ax.text(4.4, 0.58, "the rules:  model/ → transformer.   h0 → h.0   / → .   w, g → weight   b → bias",
            fontsize=9, ha="center", va="center", family=MONO)
    ax.text(4.4, 0.32, "every w (shaded) drops its leading 1 and is transposed: Conv1D's (1, in, out) → nn.Linear's "
            "(out, in)", fontsize=9, ha="center", va="center")
    return fig


def draw_conv1d_transpose():
    """One small linear layer (in=3, out=4) stored both ways: the same numbers, the same output, transposed."""
    fig, ax = canvas(8.4, 3.9, "Conv1D stores (in, out), nn.Linear stores (out, in): one transpose, the same y")
    w = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
    wt = [list(col) for col in zip(*w)]
    cell = 0.36
    colors = [[ORANGE] * 4, [GREY] * 4, [BLUE] * 4]
    # OpenAI: x (1, 3) @ w[0] (3, 4)
    ax.text(2.0, 3.3, "OpenAI: w has shape (1, in=3, out=4)", ha="center", fontsize=10, fontweight="bold")
    grid(ax, 0.25, 2.55, [[1, 0, 2]], cell, fontsize=9)
    ax.text(0.25 + 1.5 * cell, 2.55 - cell - 0.18, "x (1, 3)", ha="center", fontsize=8.5, color=MUTED)
    ax.text(1.5, 2.55 - 0.5 * cell, "@", ha="center", va="center", fontsize=12)
    grid(ax, 1.75, 2.9, w, cell, colors=colors, fontsize=9)
    ax.text(1.75 + 2 * cell, 2.9 - 3 * cell - 0.18, "w[0]  (in, out)", ha="center", fontsize=8.5, color=MUTED)
    ax.text(1.75 + 4 * cell + 0.25, 2.55 - 0.5 * cell, "=", ha="center", va="center", fontsize=12)
    grid(ax, 3.5, 2.55, [[19, 22, 25, 28]], cell, fontsize=9)
    ax.text(3.5 + 2 * cell, 2.55 - cell - 0.08, "y = x @ w[0] + b\n(b = 0 here)", ha="center", va="top", fontsize=8.5, color=MUTED)

    arrow(ax, (2.45, 1.5), (5.05, 1.5), color=RED, rad=0.35)
    ax.text(3.75, 0.92, "W = w[0].T", ha="center", fontsize=9, color=RED, family=MONO)

    # PyTorch: x @ W.T with W (4, 3)
    ax.text(6.5, 3.3, "nn.Linear: weight has shape (out=4, in=3)", ha="center", fontsize=10, fontweight="bold")
    colors_t = [[ORANGE, GREY, BLUE] for _ in range(4)]
    grid(ax, 5.15, 2.9, wt, cell, colors=colors_t, fontsize=9)
    ax.text(5.15 + 1.5 * cell, 2.9 - 4 * cell - 0.18, "W  (out, in)", ha="center", fontsize=8.5, color=MUTED)
    ax.text(6.55, 2.2, "F.linear(x, W, b)\n= x @ W.T + b\n= [19, 22, 25, 28]", ha="left", va="center", fontsize=9,
            family=MONO)
    ax.text(4.2, 0.5, "row i of w[0] (input i's weights) is column i of W.  In GPT-2 124M: c_attn (1, 768, 2304) → "
            "(2304, 768),\nc_fc (1, 768, 3072) → (3072, 768), attn.c_proj (1, 768, 768) → (768, 768), "
            "mlp.c_proj (1, 3072, 768) → (768, 3072)", ha="center", va="center", fontsize=8.5)
    return fig


def draw_fused_qkv():
    """c_attn computes q, k and v of every head in one product; split and view cut its output apart."""
    fig, ax = canvas(8.6, 3.7, "The fused c_attn: one (768 → 2304) product, cut into q, k, v, then into 12 heads")
    box(ax, 0.75, 2.0, 1.1, 0.55, "x\n(B, T, 768)", fc=GREY, fontsize=9)
    arrow(ax, (1.3, 2.0), (1.85, 2.0))
    # the weight: three stacked (768, 768) blocks in our (out, in) layout
    for i, (name, colour) in enumerate([("query rows 0–767", BLUE), ("key rows 768–1535", GREEN),
                                        ("value rows 1536–2303", ORANGE)]):
        box(ax, 2.85, 2.65 - 0.45 * i, 1.9, 0.45, name, fc=colour, fontsize=8.5, round_=False)
    ax.text(2.85, 3.1, "c_attn.weight (2304, 768)", ha="center", fontsize=8.5, family=MONO)
    ax.text(2.85, 1.2, "OpenAI's w[0] (768, 2304):\nthe same three as columns", ha="center", va="center", fontsize=8,
            color=MUTED)
    arrow(ax, (3.85, 2.2), (4.35, 2.2))
    box(ax, 4.85, 2.2, 0.95, 1.3, fc=GREY, round_=False)
    for i, colour in enumerate([BLUE, GREEN, ORANGE]):
        box(ax, 4.57 + 0.28 * i, 2.2, 0.26, 1.2, fc=colour, round_=False)
    ax.text(4.85, 1.3, "(B, T, 2304)", ha="center", va="center", fontsize=8.5)
    arrow(ax, (5.35, 2.2), (6.1, 2.2))
    ax.text(5.72, 1.95, ".split(768,\n dim=2)", ha="center", va="center", fontsize=8, family=MONO)
    for i, (name, colour) in enumerate([("q", BLUE), ("k", GREEN), ("v", ORANGE)]):
        y = 2.9 - 0.7 * i
        box(ax, 6.6, y, 0.9, 0.45, f"{name} (B, T, 768)", fc=colour, fontsize=8)
        arrow(ax, (7.05, y), (7.35, y))
        box(ax, 7.95, y, 1.1, 0.45, "(B, 12, T, 64)", fc=colour, fontsize=8)
    ax.text(7.95, 0.95, ".view(B, T, 12, 64)\n.transpose(1, 2)", ha="center", va="center", fontsize=8, family=MONO)
    ax.text(4.3, 0.35, "Loading needs no surgery: the fused matrix is copied whole (transposed), and the split "
            "happens in CausalSelfAttention.forward", ha="center", fontsize=8.5, color=INK)
    return fig


FIGURES = {
    "ch07_tensorbundle": draw_tensorbundle,
    "ch07_checkpoint_names": draw_checkpoint_names,
    "ch07_conv1d_transpose": draw_conv1d_transpose,
    "ch07_fused_qkv": draw_fused_qkv,
}
