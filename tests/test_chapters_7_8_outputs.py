"""Chapters 7 and 8's stored outputs support their lessons: a note above every output that depends on OpenAI's
weights, a generated sample at each evaluation of the overfitting run, and no machine paths."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CH7, CH8 = NOTEBOOKS / "07_openai_weights.ipynb", NOTEBOOKS / "08_training.ipynb"
MACHINE_PATH = re.compile(r"(?<![\w<>.])(/work|/root|/home|/tmp|/Users|/private|/var/folders|[A-Z]:\\)")


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def stdout(cell: dict) -> str:
    """What a code cell printed, and the text form of what it displayed."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream" and out["name"] == "stdout":
            parts.append("".join(out["text"]))
        elif "text/plain" in out.get("data", {}):
            parts.append("".join(out["data"]["text/plain"]))
    return "".join(parts)


def test_every_output_that_depends_on_openais_weights_has_a_note_above_it():
    """Offline, the release's weights are random stand-ins: a reader must be told so right above such an output."""
    last_markdown, dependent, bare = "", 0, []
    for i, cell in enumerate(cells(CH7)):
        if cell["cell_type"] == "markdown":
            last_markdown = source(cell)
        elif re.search(r"^# The \w+ depends? on the weights", source(cell), re.M):
            dependent += 1
            if "{admonition} Depends on OpenAI's weights" not in last_markdown:
                bare.append(f"cell {i}: {source(cell).splitlines()[0]}")
    assert dependent >= 4, f"expected the text, perplexity, wpe and exercise-3 cells to say so; found {dependent}"
    assert not bare, "no 'Depends on OpenAI's weights' note in the markdown above: " + "; ".join(bare)


def test_chapter_8_prints_a_generated_sample_at_each_evaluation():
    (run,) = [c for c in cells(CH8) if "overfit_model, overfit = experiment(" in source(c)]
    printed = {int(m[1]) for m in re.finditer(r"^step +(\d+): ['\"]", stdout(run), re.M)}
    expected = set(range(0, 501, 25))  # BASE: 500 steps, evaluated every 25 and at step 0
    assert printed == expected, f"samples missing at steps {sorted(expected - printed)}, unexpected at " \
                                f"{sorted(printed - expected)}"


@pytest.mark.parametrize("path", [CH7, CH8], ids=lambda p: p.stem)
def test_printed_results_name_no_machine_path(path):
    found = [(i, m.group(0)) for i, c in enumerate(cells(path)) if c["cell_type"] == "code"
             for m in [MACHINE_PATH.search(stdout(c))] if m]
    assert not found, f"{path.name}: outputs name this machine's folders (cell, path start): {found}"
