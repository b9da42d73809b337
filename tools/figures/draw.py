"""Draw every diagram of the book into notebooks/figures/ (committed), or check that the committed ones are current.

    python tools/figures/draw.py            # redraw all, after editing a chNN.py
    python tools/figures/draw.py ch03       # redraw one chapter's
    python tools/figures/draw.py --check    # exit 1 if redrawing would change a file (tests/test_figures.py)
    python tools/figures/draw.py ch03 --png /tmp/look   # also write PNGs there, to look at while drawing

Each tools/figures/chNN.py has FIGURES: a dict from figure name (chNN_what) to the function that draws it.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import style  # noqa: E402


def chapters() -> list[str]:
    return sorted(p.stem for p in HERE.glob("ch[0-9][0-9].py"))


def draw(chapter: str, out_dir: Path, png_dir: Path | None = None) -> list[Path]:
    """Draw one chapter's figures into out_dir; each function returns the figure, which is saved under its name."""
    module = importlib.import_module(chapter)
    paths = []
    for name, draw_figure in module.FIGURES.items():
        if not name.startswith(chapter + "_"):
            raise ValueError(f"{chapter}.py: figure {name!r} must be named {chapter}_<what>")
        fig = draw_figure()
        if png_dir is not None:
            png_dir.mkdir(parents=True, exist_ok=True)
            fig.savefig(png_dir / f"{name}.png", format="png", dpi=110, facecolor="white")
        paths.append(style.save(fig, name, out_dir))
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="e.g. ch03 (default: all)")
    parser.add_argument("--check", action="store_true", help="compare with the committed SVGs instead of writing")
    parser.add_argument("--png", type=Path, help="also write PNG copies into this folder, to look at")
    args = parser.parse_args()
    todo = args.chapters or chapters()
    if not args.check:
        for chapter in todo:
            for path in draw(chapter, style.OUT_DIR, args.png):
                print(f"wrote {path.relative_to(HERE.parents[1])}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        drawn = [p for chapter in todo for p in draw(chapter, Path(tmp))]
        stale = [p.name for p in drawn if not (style.OUT_DIR / p.name).exists()
                 or not filecmp.cmp(p, style.OUT_DIR / p.name, shallow=False)]
    if stale:
        print(f"out of date (run python tools/figures/draw.py): {', '.join(stale)}")
        return 1
    print(f"{len(drawn)} figures up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
