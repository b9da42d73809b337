"""Each chapter and appendix says how long its default settings take on a 2-core CPU, and the setup page's table
agrees."""

from __future__ import annotations

import json
import re

from conftest import NOTEBOOKS, ROOT

STATED = re.compile(r"On a 2-core CPU this (?:chapter|appendix) runs in (about [\w ]+?) with its default settings")


def table_key(stem: str) -> str:
    """The first column's key in book/setup.md: '7' for 07_openai_weights, 'A' for appendix_a_tensorflow_..."""
    appendix = re.match(r"appendix_([a-z])_", stem)
    return appendix[1].upper() if appendix else str(int(stem[:2]))


def test_every_notebook_states_its_time_on_a_2_core_cpu_as_the_setup_page_does():
    table = (ROOT / "book" / "setup.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        setup = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][1]["source"])
        found = STATED.search(setup)
        assert found, f"{path.name}: its Setup cell must say how long it takes on a 2-core CPU"
        row = re.search(rf"^\| {table_key(path.stem)} .*\| ([^|]+) \|$", table, re.M)
        assert row and row[1].strip() == found[1], (
            f"{path.name} says {found[1]!r}, book/setup.md's table {row[1].strip() if row else 'has no row'!r}")
