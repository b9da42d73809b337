"""Each chapter says how long its default settings take on a 2-core CPU, and the setup page's table agrees."""

from __future__ import annotations

import json
import re

from conftest import NOTEBOOKS, ROOT

STATED = re.compile(r"On a 2-core CPU this chapter runs in (about [\w ]+?) with its default settings")


def test_every_chapter_states_its_time_on_a_2_core_cpu_as_the_setup_page_does():
    table = (ROOT / "book" / "setup.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        setup = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][1]["source"])
        found = STATED.search(setup)
        assert found, f"{path.name}: its Setup cell must say how long the chapter takes on a 2-core CPU"
        row = re.search(rf"^\| {int(path.name[:2])} .*\| ([^|]+) \|$", table, re.M)
        assert row and row[1].strip() == found[1], (
            f"{path.name} says {found[1]!r}, book/setup.md's table {row[1].strip() if row else 'has no row'!r}")
