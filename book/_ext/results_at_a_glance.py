"""A Sphinx extension: the intro's "Results at a glance", made at build time from what was saved — never retyped.

Two sources, both generic, so a new chapter or benchmark shows up without editing this file:

- a notebook code cell tagged ``headline`` (cell metadata ``tags``): its saved text output, under the chapter's title;
- a file ``gpt2_lib/results/*.jsonl`` (one JSON object per line, written by the benchmarks): a table, one row per
  line; columns that are the same on every row (the machine, the date) become the table's caption.

Listed under ``sphinx: local_extensions`` in ``_config.yml``, so that plain ``jupyter-book build .`` runs it; a page
asks for each part with a directive::

    ```{results-at-a-glance} headlines
    ```
    ```{results-at-a-glance} benchmarks
    ```
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
RESULTS = ROOT / "gpt2_lib" / "results"


def _text(output: dict) -> str:
    if output.get("output_type") == "stream" and output.get("name") == "stdout":
        return "".join(output["text"])
    if output.get("output_type") in ("execute_result", "display_data") and "image/png" not in output.get("data", {}):
        return "".join(output.get("data", {}).get("text/plain", "")) + "\n"
    return ""


def headlines(notebooks: list[Path]) -> list[str]:
    """A table row per chapter with cells tagged `headline`: a link to the chapter, then its saved output's lines."""
    rows = []
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = [c for c in nb["cells"] if c["cell_type"] == "code" and "headline" in c.get("metadata", {}).get("tags", [])]
        if not cells:
            continue
        title = re.sub(r"^#\s*", "", "".join(nb["cells"][0]["source"]).splitlines()[0]).split(":")[0]
        text = "".join(_text(o) for c in cells for o in c.get("outputs", [])).strip("\n")
        if not text:
            raise ValueError(f"{path.name}: a cell tagged 'headline' has no saved output; run the chapter first")
        lines = "<br>".join(f"<code>{html.escape(line)}</code>" for line in text.splitlines())
        rows.append(f"| {{doc}}`{title} </notebooks/{path.stem}>` | {lines.replace('|', '&#124;')} |")
    return ["| Chapter | What its check printed |", "|---|---|", *rows] if rows else []


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v).replace("|", "\\|")


GROUP_BY = ("machine", "suite")  # one table per machine (or benchmark suite)
KEY = ("setting", "run", "impl")  # what a row measures: a later row for the same thing replaces an earlier one
DETAIL = {"settings", "loss_after", "attention", "seconds", "transformers", "identical_tokens", "bytes_per_token",
          "tokens_per_step", "session", "cpu_ms_per_step"}  # kept in the files, too fine-grained for a glance


def latest(rows: list[dict]) -> list[dict]:
    """Each measured thing once, with its newest value, where it first appeared (results files only grow)."""
    kept: dict[tuple, dict] = {}
    for r in rows:
        kept[tuple(str(r.get(k, "")) for k in KEY) + ("ratio" in r,)] = r
    return list(kept.values())


def tables(path: Path) -> list[str]:
    """One JSON-lines results file as compact markdown tables, one per machine (or suite), newest values only."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = tuple(str(r.get(k, "")) for k in GROUP_BY)
        groups.setdefault(key, []).append(r)
    return [table(path, latest(g)) for g in groups.values()]


def table(path: Path, rows: list[dict]) -> str:
    """A markdown table of rows from one results file: scalar columns only, constant ones moved to the caption."""
    keys = [k for k in dict.fromkeys(k for r in rows for k in r)
            if k not in DETAIL and not any(isinstance(r.get(k), (dict, list)) for r in rows)]
    measured = [r for r in rows if "ratio" not in r]
    constant = [k for k in keys if len(measured) > 1 and all(k in r and r[k] == measured[0][k] for r in rows)]
    columns = [k for k in keys if k not in constant and k != "ratio" and any(k in r for r in measured)]
    caption = "; ".join(f"{k}: {_cell(measured[0][k])}" for k in constant)
    lines = [f"*`gpt2_lib/results/{path.name}`*" + (f" — {caption}" if caption else ""), ""]
    if measured and columns:
        lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_cell(r[k]) if k in r else "" for k in columns) + " |" for r in measured]
    for r in rows:
        if "ratio" in r:
            what = r.get("run") or "gpt2_lib / transformers"
            setting = f" ({r['setting']})" if "setting" in r and "setting" not in constant else ""
            lines.append(f"\n**{what}{setting}: {r['ratio']:.2f}×**")
    return "\n".join(lines) + "\n"


def markdown(part: str) -> tuple[str, list[Path]]:
    """The markdown of one part ("headlines" or "benchmarks") and the files it was made from."""
    if part == "headlines":
        sources = sorted(NOTEBOOKS.glob("*.ipynb"))
        return "\n".join(headlines(sources)), sources
    sources = sorted(RESULTS.glob("*.jsonl"))
    return "\n".join(t for p in sources for t in tables(p)), sources


def setup(app) -> dict:
    """Register the directive (Sphinx is imported only here, so the functions above work without it)."""
    from docutils import nodes
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective

    class ResultsAtAGlance(SphinxDirective):
        """`{results-at-a-glance} headlines|benchmarks`: the part, parsed as MyST markdown where it stands."""

        required_arguments = 1

        def run(self) -> list[nodes.Node]:
            part = self.arguments[0]
            if part not in ("headlines", "benchmarks"):
                raise self.error(f"results-at-a-glance takes 'headlines' or 'benchmarks', not {part!r}")
            text, sources = markdown(part)
            for path in sources:  # rebuild the page when a chapter's saved output or a results file changes
                self.env.note_dependency(str(path))
            container = nodes.container()
            self.state.nested_parse(StringList(text.splitlines(), source=f"results-at-a-glance {part}"),
                                    self.content_offset, container)
            return container.children

    app.add_directive("results-at-a-glance", ResultsAtAGlance)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
