"""A pytest plugin: each failure is named in a file the moment it is reported, so that a run cut off by a time limit
(tools/test_gpu.sh on a lent GPU machine) still says what failed; pytest's own summary comes only at the end.

tests/conftest.py uses it for the suite; it writes only where GPT2_LIB_FAILURES_LOG names the file.
"""

from __future__ import annotations

import os

import pytest

LOG = "GPT2_LIB_FAILURES_LOG"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Append 'nodeid (phase): first line of the error' for a failed setup, test or teardown. Under pytest-xdist the
    controller sees every worker's reports, so only it writes (a worker's own call would name each failure twice)."""
    path = os.environ.get(LOG)
    if not path or not report.failed or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(report.longrepr)
    first = next((line for line in message.splitlines() if line.strip()), "")
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{report.nodeid} ({report.when}): {first}\n")
