"""Chapter 2's diagrams: the embedding lookup as a one-hot product, token + position embeddings, sliding windows."""

from __future__ import annotations

from matplotlib.patches import Rectangle

from style import ACCENT, BLUE, GREEN, GREY, INK, MUTED, ORANGE, PURPLE, RED, arrow, box, canvas, grid

# The chapter's toy table: torch.manual_seed(123); nn.Embedding(6, 3), rounded to 2 decimals; ids [2, 3, 5, 1].
TOY_W = [[0.34, -0.18, -0.17], [0.92, 1.58, 1.30], [1.28, -0.20, -0.16], [-0.40, 0.97, -1.15],
         [-1.16, 0.33, -0.63], [-2.84, -0.78, -1.41]]
TOY_IDS = [2, 3, 5, 1]
# The first tokens of The Verdict (chapter 2 prints the first ten).
VERDICT_IDS = [40, 367, 2885, 1464, 1807, 3619, 402, 271, 10899, 2138, 257, 7026, 15632]
VERDICT_TOKENS = ["I", " H", "AD", " always", " thought", " Jack", " G", "is", "burn", " rather", " a", " cheap",
                  " genius"]
ROW_COLOURS = [BLUE, ORANGE, GREEN, PURPLE]


def table(ax, x: float, y: float, values, cw: float, ch: float, colors, fmt: str = "{}", fontsize: float = 9):
    """A grid of cw × ch cells with its top-left corner at (x, y)."""
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            ax.add_patch(Rectangle((x + j * cw, y - (i + 1) * ch), cw, ch, fc=colors[i][j], ec=INK, lw=0.6))
            ax.text(x + (j + 0.5) * cw, y - (i + 0.5) * ch, fmt.format(v), ha="center", va="center",
                    fontsize=fontsize)


def draw_one_hot_lookup():
    """one_hot(ids) (4, 6) @ W (6, 3) = W[ids] (4, 3): each one-hot row picks one row of W."""
    fig, ax = canvas(8.6, 3.3, "An embedding lookup is a one-hot row times the table")
    ch, c, cw = 0.32, 0.32, 0.55
    top = 2.6
    colour_of = {i: ROW_COLOURS[k] for k, i in enumerate(TOY_IDS)}
    one_hot = [[1 if j == i else 0 for j in range(6)] for i in TOY_IDS]
    oh_colours = [[colour_of[i] if j == i else "white" for j in range(6)] for i in TOY_IDS]
    x_oh = 0.7
    table(ax, x_oh, top, one_hot, c, ch, oh_colours)
    for r, i in enumerate(TOY_IDS):
        ax.text(x_oh - 0.1, top - (r + 0.5) * ch, f"id {i}", ha="right", va="center", fontsize=9)
    for j in range(6):
        ax.text(x_oh + (j + 0.5) * c, top + 0.12, str(j), ha="center", fontsize=8, color=MUTED)
    ax.text(x_oh + 3 * c, top - 4 * ch - 0.25, "one_hot(ids)  (4, 6)", ha="center", fontsize=9)
    ax.text(x_oh + 6 * c + 0.3, top - 2 * ch, "@", ha="center", va="center", fontsize=16)
    x_w = x_oh + 6 * c + 0.6
    table(ax, x_w, top, TOY_W, cw, ch, [[colour_of.get(i, "white")] * 3 for i in range(6)], "{:+.2f}")
    for i in range(6):
        ax.text(x_w + 3 * cw + 0.08, top - (i + 0.5) * ch, f"row {i}", va="center", fontsize=8, color=MUTED)
    ax.text(x_w + 1.5 * cw, top - 6 * ch - 0.25, "wte.weight  (vocab_size, C) = (6, 3)", ha="center", fontsize=9)
    x_eq = x_w + 3 * cw + 0.75
    ax.text(x_eq, top - 2 * ch, "=", ha="center", va="center", fontsize=16)
    x_out = x_eq + 0.3
    table(ax, x_out, top, [TOY_W[i] for i in TOY_IDS], cw, ch, [[colour_of[i]] * 3 for i in TOY_IDS], "{:+.2f}")
    for r, i in enumerate(TOY_IDS):
        ax.text(x_out + 3 * cw + 0.08, top - (r + 0.5) * ch, f"row {i}", va="center", fontsize=8, color=MUTED)
    ax.text(x_out + 1.5 * cw, top - 4 * ch - 0.25, "wte(ids)  (4, 3)", ha="center", fontsize=9)
    ax.text(x_out - 0.3, 0.3, "Each one-hot row picks one row of the\ntable, so nn.Embedding skips the product\n"
            "and copies rows 2, 3, 5, 1.", fontsize=9, color=ACCENT, va="bottom")
    return fig


def draw_token_plus_position():
    """idx (B, T) looks up wte rows; positions 0..T-1 look up wpe rows; their sum is x (B, T, C)."""
    fig, ax = canvas(8.6, 3.9, "The model's input: token embedding + position embedding")
    tokens = [(" dog", 3290), (" bites", 26081), (" man", 582)]
    c, n_c = 0.3, 5
    top = 2.95
    ax.text(0.45, top + 0.3, "idx  (B, T)", fontsize=9, fontweight="bold")
    for t, (s, i) in enumerate(tokens):
        y = top - (t + 0.5) * 0.62
        box(ax, 1.05, y, 1.3, 0.36, f"{i}  {s!r}", fc=GREY, fontsize=9, round_=False)
        ax.text(0.05, y, f"t={t}", va="center", fontsize=8, color=MUTED)
    blocks = [(2.5, "wte[idx]  (B, T, C)", BLUE, "rows 3290, 26081, 582\nof wte (50257, C)"),
              (4.8, "wpe[0..T-1]  (T, C)", ORANGE, "rows 0, 1, 2 of\nwpe (1024, C)"),
              (6.95, "x  (B, T, C)", GREEN, "what block 1 reads")]
    for k, (x, title, fc, note) in enumerate(blocks):
        ax.text(x + n_c * c / 2, top + 0.3, title, ha="center", fontsize=9, fontweight="bold")
        for t in range(3):
            y = top - (t + 0.5) * 0.62
            grid(ax, x, y + c / 2, [[""] * n_c], cell=c, colors=[[fc] * n_c])
            if k == 1:
                ax.text(x - 0.05, y, f"p={t}", ha="right", va="center", fontsize=8, color=MUTED)
        ax.text(x + n_c * c / 2, top - 3 * 0.62 - 0.12, note, ha="center", va="top", fontsize=8.5, color=MUTED)
    for t in range(3):
        y = top - (t + 0.5) * 0.62
        arrow(ax, (1.72, y), (2.45, y), color=MUTED, lw=0.9)
        ax.text(4.25, y, "+", ha="center", va="center", fontsize=14)
        ax.text(6.6, y, "=", ha="center", va="center", fontsize=14)
    ax.text(0.15, 0.25, "Each sequence in the batch gets the same wpe rows (broadcast over B); "
            "adding keeps the width C (768 in GPT-2).", fontsize=9, color=ACCENT)
    return fig


def draw_sliding_windows():
    """Windows of block_size=4 with stride 4 over The Verdict's first ids; y is x shifted left by one."""
    fig, ax = canvas(8.6, 4.7, "Training examples: windows over the token stream, targets shifted by one")
    c = 0.58
    x0, top = 0.6, 3.85
    for j, (i, s) in enumerate(zip(VERDICT_IDS, VERDICT_TOKENS)):
        box(ax, x0 + (j + 0.5) * c, top, c, 0.36, str(i), fc=GREY, fontsize=8.5, round_=False)
        ax.text(x0 + (j + 0.5) * c, top + 0.3, repr(s)[1:-1].replace(" ", "·"), ha="center", fontsize=8,
                color=MUTED, rotation=0)
    ax.text(0.05, top, "ids", va="center", fontsize=9, fontweight="bold")
    block, stride = 4, 4
    for w in range(3):
        start = w * stride
        y = top - 0.7 - w * 0.9
        for j in range(block):
            box(ax, x0 + (start + j + 0.5) * c, y, c, 0.3, str(VERDICT_IDS[start + j]), fc=BLUE, fontsize=8.5,
                round_=False)
            box(ax, x0 + (start + j + 1.5) * c, y - 0.32, c, 0.3, str(VERDICT_IDS[start + j + 1]), fc=ORANGE,
                fontsize=8.5, round_=False)
        ax.text(0.05, y, f"x[{w}]", va="center", fontsize=9, color=ACCENT)
        ax.text(0.05, y - 0.32, f"y[{w}]", va="center", fontsize=9, color=RED)
    ax.text(0.05, 0.2, "block_size = 4, stride = 4. y[w, t] is the token after x[w, t], so one window gives block_size predictions.\n"
            "With stride = block_size the x windows do not overlap; the last target of one is the first input of the "
            "next. (· marks a leading space.)", fontsize=8.5, color=ACCENT, va="bottom")
    return fig


FIGURES = {
    "ch02_one_hot_lookup": draw_one_hot_lookup,
    "ch02_token_plus_position": draw_token_plus_position,
    "ch02_sliding_windows": draw_sliding_windows,
}
