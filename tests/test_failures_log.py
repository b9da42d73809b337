"""tests/plugins/failures_log.py: a run cut off before pytest's summary still names its failures, once each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from plugins.failures_log import LOG

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


def _pytest(tmp_path, *args, log=None):
    """Run pytest on SUITE in tmp_path as a fresh suite would: no xdist worker's or outer run's variables leak in
    (this test may itself run in an xdist worker), and no installed plugin but the ones named autoloads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and k != LOG}
    env |= {"PYTHONPATH": str(TESTS), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    if log:
        env[LOG] = str(log)
    (tmp_path / "test_suite.py").write_text(SUITE)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "plugins.failures_log", "-p", "no:cacheprovider",
                           *args, "test_suite.py"], cwd=tmp_path, env=env, capture_output=True, text=True)


@pytest.mark.parametrize("workers", [[], ["-p", "xdist.plugin", "-n", "2"]], ids=["one process", "xdist"])
def test_each_failure_is_logged_once_with_its_phase_and_error(tmp_path, workers):
    log = tmp_path / "failed.txt"
    run = _pytest(tmp_path, *workers, log=log)
    assert run.returncode == 1, run.stdout + run.stderr
    assert sorted(log.read_text().splitlines()) == [
        "test_suite.py::test_fails (call): AssertionError: one and one",
        "test_suite.py::test_setup_fails (setup): RuntimeError: no fixture today",
    ]


def test_nothing_is_written_without_the_variable(tmp_path):
    assert _pytest(tmp_path).returncode == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__") == ["test_suite.py"]
