"""The chapters show ideas in short cells: a reader follows a cell of 40 lines, not one of 140; the plumbing a reader
need not follow lives in the appendices. All notebook code is formatted by ruff at 88 columns."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from conftest import NOTEBOOKS, ROOT

MAX_LINES = 40
MAX_LONG_CELLS = 3  # classes a reader must see whole, where they are defined (GPT, ...)
MAX_WIDTH = 88


def code_cells(path):
    """(index, source) of each code cell of a notebook."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [(i, "".join(c["source"])) for i, c in enumerate(cells) if c["cell_type"] == "code"]


def test_main_path_code_cells_are_short_with_at_most_three_exceptions_in_the_book():
    chapters = [p for p in NOTEBOOKS if p.name[:2].isdigit()]
    long = [f"{p.name} cell {i} ({len(src.splitlines())} lines)" for p in chapters for i, src in code_cells(p)
            if len(src.splitlines()) > MAX_LINES]
    assert len(long) <= MAX_LONG_CELLS, (
        f"{len(long)} chapter code cells are over {MAX_LINES} lines (at most {MAX_LONG_CELLS} may be): split them "
        f"into cells of one idea each, or move plumbing to an appendix:\n" + "\n".join(long))


def test_no_code_line_is_wider_than_88_columns():
    wide = [f"{p.name} cell {i}: {len(line)} columns: {line.strip()[:60]}" for p in NOTEBOOKS
            for i, src in code_cells(p) for line in src.splitlines() if len(line) > MAX_WIDTH]
    assert not wide, f"{len(wide)} code lines over {MAX_WIDTH} columns:\n" + "\n".join(wide[:20])


def test_the_notebooks_are_formatted_by_ruff():
    if importlib.util.find_spec("ruff") is None:  # requirements.txt pins it; a GPU box's own Python may lack it
        pytest.skip("ruff is not installed: `pip install -r requirements.txt`")
    run = subprocess.run([sys.executable, "-m", "ruff", "format", "--check", "--diff", *map(str, NOTEBOOKS)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, f"run `ruff format notebooks/`:\n{run.stdout[-3000:]}{run.stderr[-2000:]}"
