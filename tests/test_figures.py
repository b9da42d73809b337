"""The chapters' drawn diagrams: drawn by code in tools/figures/, current, shown where they are taught, described."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "notebooks" / "figures"
IMAGE = re.compile(r"!\[([^\]]*)\]\((figures/([\w-]+)\.svg)\)")


def chapter_images(pattern: str = "[0-9][0-9]_*.ipynb") -> dict[str, list[tuple[str, str]]]:
    """{notebook stem: [(alt text, figure name), ...]} from the markdown cells of the chapters (or of `pattern`)."""
    found = {}
    for notebook in sorted((ROOT / "notebooks").glob(pattern)):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        found[notebook.stem] = [(alt, name) for alt, _, name in IMAGE.findall(text)]
    return found


def test_redrawing_the_figures_changes_nothing():
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "figures" / "draw.py"), "--check"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_chapter_shows_at_least_two_diagrams_and_the_book_thirty():
    images = chapter_images()
    few = {stem: len({name for _, name in found}) for stem, found in images.items() if len({n for _, n in found}) < 2}
    assert not few, f"chapters with fewer than 2 drawn diagrams: {few}"
    total = len({name for found in images.values() for _, name in found})
    assert total >= 30, f"{total} drawn diagrams in the book; at least 30 expected"


def test_each_diagram_is_drawn_by_code_shown_in_its_chapter_and_has_alt_text():
    images = chapter_images("*.ipynb")  # appendices may show their chapter's diagrams too
    shown = {name: (stem, alt) for stem, found in images.items() for alt, name in found if stem[:2].isdigit()}
    shown |= {name: (stem, alt) for stem, found in images.items() for alt, name in found if name not in shown}
    svgs = {p.stem for p in FIGURES.glob("*.svg")}
    assert not svgs - shown.keys(), f"drawn but shown in no chapter: {sorted(svgs - shown.keys())}"
    assert not shown.keys() - svgs, f"shown but never drawn: {sorted(shown.keys() - svgs)}"
    for name, (stem, alt) in shown.items():
        prefix = f"ch{stem[:2]}" if stem[:2].isdigit() else f"app{stem.split('_')[1]}"  # ch07_..., appa_...
        assert name.startswith(prefix), f"{name}.svg is shown in {stem}; figures are named for their chapter"
        assert len(alt.split()) >= 5, f"{name}.svg in {stem} needs alt text that describes it, got {alt!r}"


@pytest.mark.parametrize("name", sorted(p.stem for p in FIGURES.glob("*.svg")))
def test_a_diagram_has_a_white_background_for_the_dark_theme(name):
    svg = (FIGURES / f"{name}.svg").read_text(encoding="utf-8")
    assert re.search(r'id="patch_1">\s*<path d="[^"]*"\s*style="fill: #ffffff', svg), \
        f"{name}.svg: the background must be white, or the figure disappears in the book's dark theme"
