"""The book builds with jupyter-book's own command on a fresh copy of the repository, from the stored outputs.

This is what jupyter-book's docs and most GitHub Pages recipes run, so nothing may need generating first. The copy
holds only the files git knows (as a fresh clone would); the build lands in `_build/check`, where
`tools/test.sh` then opens every page in a headless browser.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import copy_of_repository

pytestmark = pytest.mark.slow  # the whole book

ROOT = Path(__file__).resolve().parent.parent
COPY = ROOT / "_build" / "check"


def test_plain_jupyter_book_build_succeeds_on_a_fresh_copy():
    pytest.importorskip("jupyter_book", reason="building the book needs jupyter-book (requirements.txt)")
    shutil.rmtree(COPY, ignore_errors=True)
    copy_of_repository(COPY)
    config = yaml.safe_load((COPY / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"  # nbval checks every cell; the book shows the stored outputs
    (COPY / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jupyter_book), "build", ".", "-W", "-n", "--keep-going"], cwd=COPY,
                            capture_output=True, text=True)
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"`jupyter-book build . -W -n --keep-going` failed on a fresh copy:\n{log[-6000:]}"
    intro = (COPY / "_build" / "html" / "book" / "intro.html").read_text(encoding="utf-8")
    assert "Checked against the references" in intro and "<table" in intro, \
        "the intro's Results at a glance came out without its tables"
