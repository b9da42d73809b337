"""Chapters 9-12's stored outputs support their lessons (issue 20): a measured offline improvement, a note above
every output that depends on OpenAI's weights, and no machine paths printed."""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT

CHAPTERS = ["09_finetuning", "10_fast_training", "11_three_frameworks", "12_classification"]
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|home|tmp|Users|root|usr|opt)/[^\s'\"]*")


def _cells(name: str) -> list[dict]:
    return json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]


def _src(cell: dict) -> str:
    return "".join(cell["source"])


def _stdout(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("name") == "stdout":
            parts.append("".join(out["text"]))
        elif "data" in out:
            parts.append("".join(out["data"].get("text/plain", "")))
    return "".join(parts)


def test_chapter_9_fine_tuning_raises_held_out_scores_offline():
    table = [_stdout(c) for c in _cells("09_finetuning") if "small GPT, before fine-tuning" in _stdout(c)]
    assert table, "chapter 9 shows no before/after table for the small GPT fine-tuned on the CPU"
    rows = {when: (float(rouge), int(pct)) for when, rouge, pct in
            re.findall(r"^small GPT, (before|after)\b.*?\s(\d\.\d+)\s+(\d+)%\s*$", table[0], re.M)}
    scores = {when: rouge for when, (rouge, _) in rows.items()}
    pct = {when: share for when, (_, share) in rows.items()}
    assert set(scores) == {"before", "after"}, f"could not read the before/after rows of:\n{table[0]}"
    assert scores["after"] > scores["before"] + 0.05, f"held-out ROUGE-L did not rise measurably: {scores}"
    assert pct["after"] > pct["before"], f"the share of answers in format did not rise: {pct}"


def test_chapter_9_every_weight_dependent_output_has_a_note_above_it():
    cells = _cells("09_finetuning")
    missing = []
    for i, cell in enumerate(cells):
        first = _src(cell).splitlines()[0] if cell["cell_type"] == "code" and _src(cell) else ""
        if not (first.startswith("#") and "depend" in first.lower() and "weights" in first.lower()):
            continue
        above = next(_src(c) for c in reversed(cells[:i]) if c["cell_type"] == "markdown")
        if not re.search(r"```\{admonition\}[^\n]*weights", above):
            missing.append(f"cell {i}: {first}")
    assert not missing, "weight-dependent outputs without an admonition in the markdown above them:\n" + "\n".join(missing)


@pytest.mark.parametrize("name", CHAPTERS)
def test_printed_outputs_name_no_machine_paths(name):
    found = [f"cell {i}: {m.group(0)}" for i, c in enumerate(_cells(name)) for m in MACHINE_PATH.finditer(_stdout(c))]
    assert not found, f"{name} prints paths of the machine it ran on:\n" + "\n".join(found)
