"""The measurements the chapters quote, shipped inside the package so that a chapter runs anywhere.

The scripts in `benchmarks/` (and `python -m gpt2_lib.bench`) append JSON lines here, one object per
measurement; chapters 6 and 10 plot them, and the book's intro tabulates them. Installed from a wheel, the files
come along as package data, so a notebook copied alone into an empty folder (as on Colab) finds them too.
"""

from __future__ import annotations

from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent

