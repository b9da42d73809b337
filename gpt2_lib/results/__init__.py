"""The measurements the chapters quote, shipped inside the package so that a chapter runs anywhere.

The scripts in `benchmarks/` (and `python -m gpt2_lib.bench`) append JSON lines here, one object per
measurement; chapters 6 and 10 plot them, and the book's intro tabulates them. Installed from a wheel, the files
come along as package data, so a notebook copied alone into an empty folder (as on Colab) finds them too.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent


def read_results(name: str) -> list[dict]:
    """Every row of the results file `name` (e.g. "train_speed.jsonl"), oldest first."""
    path = RESULTS_DIR / name
    if not path.is_file():
        have = ", ".join(sorted(p.name for p in RESULTS_DIR.glob("*.jsonl")))
        raise FileNotFoundError(f"gpt2_lib has no results file {name!r} (it ships: {have})")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
