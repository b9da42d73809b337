"""The book's drawing kit: boxes, arrows and grids in one palette, saved as byte-stable SVGs.

Every diagram in the chapters is drawn by a function in tools/figures/chNN.py with these helpers, so that a
figure can be fixed or restyled like code. Figures have a white background, so they read the same in the book's
light and dark themes, and they use the names the code uses (wte, c_attn, ln_1, ...).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402

OUT_DIR = Path(__file__).resolve().parents[2] / "notebooks" / "figures"

# One palette for the whole book (the preface's architecture figure uses the same colours).
BLUE, ORANGE, GREEN, PURPLE, GREY, YELLOW = "#dbe9f6", "#fde9d9", "#e2f0d9", "#ede4f5", "#f2f2f2", "#fff2cc"
INK, MUTED, ACCENT, RED = "#333333", "#7f7f7f", "#1f4e79", "#c0504d"

plt.rcParams.update({
    "svg.hashsalt": "gpt2-from-scratch",  # stable ids: an SVG changes only when its drawing does
    "svg.fonttype": "path",               # glyphs as paths: the figure looks the same in every browser
    "font.family": "DejaVu Sans",         # ships with matplotlib, so every machine draws the same glyphs
    "font.size": 10,
    "text.color": INK,
})


def canvas(width: float, height: float, title: str | None = None):
    """A figure of width × height inches whose axes run in the same units (0..width, 0..height), axes hidden."""
    fig = plt.figure(figsize=(width, height), facecolor="white")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set(xlim=(0, width), ylim=(0, height), aspect="equal")
    ax.axis("off")
    if title:
        ax.text(width / 2, height - 0.2, title, ha="center", va="top", fontsize=11, fontweight="bold")
    return fig, ax


def box(ax, x: float, y: float, w: float, h: float, text: str = "", fc: str = BLUE, *, fontsize: float = 10,
        ec: str = INK, lw: float = 1.0, ls: str = "-", round_: bool = True, **text_kw) -> None:
    """A box centred at (x, y) with centred text."""
    style = "round,pad=0,rounding_size=0.08" if round_ else "square,pad=0"
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=style, fc=fc, ec=ec, lw=lw, ls=ls))
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, **text_kw)


def arrow(ax, start: tuple[float, float], end: tuple[float, float], text: str = "", *, color: str = INK,
          rad: float = 0.0, fontsize: float = 9, lw: float = 1.2, offset: tuple[float, float] = (0.1, 0)) -> None:
    """An arrow from start to end, optionally labelled beside its middle (shifted by offset)."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=color, lw=lw,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=2, shrinkB=2))
    if text:
        mx, my = (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1]
        ax.text(mx, my, text, ha="left", va="center", fontsize=fontsize, color=color)


def grid(ax, x: float, y: float, values, cell: float = 0.4, *, colors=None, fontsize: float = 8,
         fmt: str = "{}", ec: str = INK) -> None:
    """A table of values with its top-left corner at (x, y); colors (same shape, or None) fill the cells."""
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            fc = colors[i][j] if colors is not None else "white"
            ax.add_patch(Rectangle((x + j * cell, y - (i + 1) * cell), cell, cell, fc=fc, ec=ec, lw=0.6))
            if v is not None and v != "":
                ax.text(x + (j + 0.5) * cell, y - (i + 0.5) * cell, fmt.format(v), ha="center", va="center",
                        fontsize=fontsize)


def save(fig, name: str, out_dir: Path = OUT_DIR) -> Path:
    """Write notebooks/figures/<name>.svg with no timestamp, so that redrawing an unchanged figure changes nothing."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.svg"
    fig.savefig(path, format="svg", facecolor="white", metadata={"Date": None})
    plt.close(fig)
    return path
