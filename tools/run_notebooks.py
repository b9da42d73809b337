"""Execute chapter notebooks top to bottom in a fresh kernel and save them with their outputs.

The committed outputs are what nbval compares against, so they must come from one clean run, in order,
in the same environment as the tests (tools/env.sh sets it up: offline cache, no progress bars):

    bash tools/run_notebooks.sh                        # every chapter
    bash tools/run_notebooks.sh notebooks/01_*.ipynb   # some chapters
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def run(path: Path, timeout: int = 900) -> float:
    """Run one notebook in its own folder with the python3 kernel of this environment; save it in place."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # start from a blank slate so no stale output survives a failure
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)  # timestamps of an earlier run
    t0 = time.perf_counter()
    # record_timing=False: no execution timestamps in the cells' metadata, so a re-run changes only what ran differently
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)
    return time.perf_counter() - t0


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for p in paths:
        print(f"{p.name}: {run(p):.0f} s", flush=True)
