"""A pytest plugin: where TensorFlow is missing, the chapters' TensorFlow cells skip with the one line a reader sees.

tests/conftest.py uses it for the suite; the tests that run chapters in a child pytest (outside the repository,
without Triton) load it with `-p nbval_tensorflow`, this folder on PYTHONPATH.
"""

from __future__ import annotations

import importlib.util

import pytest

NEEDS_TENSORFLOW = "needs-tensorflow"  # the tag of a chapter cell that runs TensorFlow (an optional extra)


def pytest_collection_modifyitems(config, items):
    """Where TensorFlow is missing (a GPU machine, a laptop), its chapter cells are skipped, with the one line a
    reader sees, and counted as skipped, not passed. In CI TensorFlow is installed, so a skip there fails."""
    if importlib.util.find_spec("tensorflow") is not None:
        return
    skip = pytest.mark.skip(reason="TensorFlow is not installed: `pip install tensorflow-cpu` to run this comparison")
    for item in items:
        cell = getattr(item, "cell", None)  # nbval's notebook cells carry theirs
        if cell is not None and NEEDS_TENSORFLOW in cell.get("metadata", {}).get("tags", []):
            item.add_marker(skip)
