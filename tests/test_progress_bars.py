"""No wall of progress bars in the book: the build turns tqdm off, and no stored output is a progress bar."""

from __future__ import annotations

import json
import re

import pytest

from conftest import NOTEBOOKS, ROOT

PROGRESS_BAR = re.compile(r"\d+%\|.*\|\s*\d+/\d+|it/s\]")  # tqdm's "40%|████      | 4/10 [... 2.0it/s]"


def test_book_build_turns_progress_bars_off():
    """The book executes the chapters itself; with tqdm on, every bar update lands in the page as a stderr box."""
    script = (ROOT / "tools" / "build_book.sh").read_text()
    build = script.index("jb build")
    assert re.search(r"^export TQDM_DISABLE=1\b", script[:build], re.M), \
        "tools/build_book.sh must export TQDM_DISABLE=1 before `jb build`, as CI and tools/run_notebooks.sh do"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_stored_output_is_a_progress_bar(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    bars = [i for i, c in enumerate(cells) if c["cell_type"] == "code" for o in c.get("outputs", [])
            if o.get("name") == "stderr" and PROGRESS_BAR.search("".join(o.get("text", "")))]
    assert not bars, f"{path.name}: cells {sorted(set(bars))} store a progress bar; re-run with TQDM_DISABLE=1"
