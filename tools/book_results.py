"""Write the intro page's "Results at a glance" from what the chapters and benchmarks saved — never retyped.

Two sources, both generic, so a new chapter or benchmark shows up without editing this script:

- a notebook code cell tagged ``headline`` (cell metadata ``tags``): its saved text output, under the chapter's title;
- a file ``benchmarks/results/*.jsonl`` (one JSON object per line): a table, one row per line; columns that are the
  same on every row (the machine, the date) become the table's caption.

    python tools/book_results.py            # writes _build/generated/results.md, which book/intro.md includes
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "_build" / "generated" / "results.md"


def _text(output: dict) -> str:
    if output.get("output_type") == "stream" and output.get("name") == "stdout":
        return "".join(output["text"])
    if output.get("output_type") in ("execute_result", "display_data") and "image/png" not in output.get("data", {}):
        return "".join(output.get("data", {}).get("text/plain", "")) + "\n"
    return ""


def headlines(notebooks: list[Path]) -> list[str]:
    """Markdown for every chapter's cells tagged `headline`: a link to the chapter, then the saved output."""
    parts = []
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = [c for c in nb["cells"] if c["cell_type"] == "code" and "headline" in c.get("metadata", {}).get("tags", [])]
        if not cells:
            continue
        title = re.sub(r"^#\s*", "", "".join(nb["cells"][0]["source"]).splitlines()[0]).split(":")[0]
        text = "".join(_text(o) for c in cells for o in c.get("outputs", [])).strip("\n")
        if not text:
            raise SystemExit(f"{path.name}: a cell tagged 'headline' has no saved output; run the chapter first")
        parts.append(f"**{title}** ({{doc}}`/notebooks/{path.stem}`)\n\n```text\n{text}\n```\n")
    return parts


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v).replace("|", "\\|")


GROUP_BY = ("machine", "setting", "suite")  # one table per machine and setting (or benchmark suite)
DETAIL = {"settings", "loss_after", "attention", "seconds", "transformers", "identical_tokens", "bytes_per_token",
          "tokens_per_step"}  # kept in the files, too fine-grained for a glance


def tables(path: Path) -> list[str]:
    """One JSON-lines results file as compact markdown tables, one per (machine, setting or suite)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = tuple(str(r.get(k, "")) for k in GROUP_BY)
        groups.setdefault(key, []).append(r)
    return [table(path, g) for g in groups.values()]


def table(path: Path, rows: list[dict]) -> str:
    """A markdown table of rows from one results file: scalar columns only, constant ones moved to the caption."""
    keys = [k for k in dict.fromkeys(k for r in rows for k in r)
            if k not in DETAIL and not any(isinstance(r.get(k), (dict, list)) for r in rows)]
    constant = [k for k in keys if len(rows) > 1 and all(k in r and r[k] == rows[0][k] for r in rows)]
    columns = [k for k in keys if k not in constant and k != "ratio"]
    caption = "; ".join(f"{k}: {_cell(rows[0][k])}" for k in constant)
    lines = [f"*`{path.relative_to(ROOT)}`*" + (f" — {caption}" if caption else ""), ""]
    measured = [r for r in rows if "ratio" not in r]
    if measured and columns:
        lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_cell(r[k]) if k in r else "" for k in columns) + " |" for r in measured]
    for r in rows:
        if "ratio" in r:
            what = r.get("run") or "gpt2_lib / transformers"
            lines.append(f"\n**{what}: {r['ratio']:.2f}×**")
    return "\n".join(lines) + "\n"


def main() -> None:
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    benchmarks = sorted((ROOT / "benchmarks" / "results").glob("*.jsonl"))
    md = ["### Checked against the references\n",
          "Each block below is the saved output of a chapter's check (a cell tagged `headline`), as the tests "
          "last compared it.\n"]
    md += headlines(notebooks)
    if benchmarks:
        md.append("### Measured speed and other results\n")
        md.append("Written by the scripts in `benchmarks/` (and the chapters) as JSON lines, one row per measurement.\n")
        md += [t for p in benchmarks for t in tables(p)]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(md), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(md)} parts")


if __name__ == "__main__":
    main()
