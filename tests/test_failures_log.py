"""tests/plugins/failures_log.py: a run cut off before pytest's summary still names its failures, once each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

SUITE = """
import pytest

def test_passes():
    pass

def test_fails():
    assert 1 + 1 == 3, "one and one"

@pytest.fixture
def broken():
    raise RuntimeError("no fixture today")

def test_setup_fails(broken):
    pass
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_each_failure_is_logged_once_with_its_phase_and_error(tmp_path, workers):
    (tmp_path / "test_suite.py").write_text(SUITE)
    log = tmp_path / "failed.txt"
    env = {**os.environ, "GPT2_LIB_FAILURES_LOG": str(log), "PYTHONPATH": str(TESTS)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "plugins.failures_log", "-p", "no:cacheprovider",
                          *workers, "test_suite.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert sorted(log.read_text().splitlines()) == [
        "test_suite.py::test_fails (call): AssertionError: one and one",
        "test_suite.py::test_setup_fails (setup): RuntimeError: no fixture today",
    ]


def test_nothing_is_written_without_the_variable(tmp_path):
    (tmp_path / "test_suite.py").write_text(SUITE)
    env = {k: v for k, v in os.environ.items() if k != "GPT2_LIB_FAILURES_LOG"} | {"PYTHONPATH": str(TESTS)}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "plugins.failures_log", "-p", "no:cacheprovider",
                    "test_suite.py"], cwd=tmp_path, env=env, capture_output=True)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__") == ["test_suite.py"]
