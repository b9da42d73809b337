"""No wall of progress bars in the book: the build turns tqdm and transformers' bars off.

(That no stored output holds a progress bar is tests/test_notebooks.py's test_outputs_hold_no_progress_bars.)
"""

from __future__ import annotations

import re

from conftest import ROOT


def test_book_build_turns_progress_bars_off():
    """The book executes the chapters itself; with tqdm on, every bar update lands in the page as a stderr box."""
    script = (ROOT / "tools" / "build_book.sh").read_text()
    build = script.index("jb build")
    assert re.search(r"^export TQDM_DISABLE=1\b", script[:build], re.M), \
        "tools/build_book.sh must export TQDM_DISABLE=1 before `jb build`, as CI and tools/run_notebooks.sh do"
    assert re.search(r"^export HF_HUB_DISABLE_PROGRESS_BARS=1\b", script[:build], re.M), \
        "tools/build_book.sh must turn transformers' progress bars off too (HF_HUB_DISABLE_PROGRESS_BARS=1)"
