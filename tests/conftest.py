"""Shared fixtures: the offline mirror of public files, and GPT-2's tokenizer files from the download cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Under pytest-xdist each worker gets its share of the cores, and so do the Pythons it starts: 14 workers on 16 cores,
# each with 16 torch threads, spun against each other until a CPU test of seconds took five minutes.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))
    os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")  # no pool of compile processes per worker
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(autouse=True)
def _no_mirror_unless_asked(monkeypatch):
    """Unit tests see only the servers and folders they set up, not the offline mirror that tools/env.sh exports
    (a test of the mirror sets GPT2_LIB_MIRROR itself)."""
    monkeypatch.delenv("GPT2_LIB_MIRROR", raising=False)


@pytest.fixture
def read_only(monkeypatch):
    """read_only(folder): writes under folder fail as the kernel fails them for anyone but root (tests run as root,
    which a folder's mode does not stop)."""
    real_open = os.open

    def refuse(folder: Path) -> Path:
        folder.chmod(0o555)

        def open_as_the_kernel_would(path, *args, **kwargs):
            if str(path).startswith(str(folder)):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", open_as_the_kernel_would)
        return folder

    return refuse  # monkeypatch puts os.open back after the test


@pytest.fixture(scope="session")
def shakespeare() -> str:
    from gpt2_lib.download import fetch_file

    return fetch_file("tinyshakespeare.txt", progress=False).read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def tiktoken_gpt2():
    import tiktoken

    if not os.environ.get("TIKTOKEN_CACHE_DIR") and (ROOT.parent / "shared" / "tiktoken_cache").is_dir():
        os.environ["TIKTOKEN_CACHE_DIR"] = str(ROOT.parent / "shared" / "tiktoken_cache")
    return tiktoken.get_encoding("gpt2")


@pytest.fixture(scope="session")
def scratch_tokenizer():
    from gpt2_lib.tokenizer import BPETokenizer

    return BPETokenizer.gpt2()


def copy_of_repository(dest: Path) -> Path:
    """Copy the files a fresh clone would have (tracked, plus new ones git does not ignore) into dest."""
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: cannot tell which files a fresh clone would have")
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, check=True).stdout
    for name in (f for f in out.decode().split("\0") if f and (ROOT / f).is_file()):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    return dest


GPU_ONLY = "needs a CUDA GPU"  # the one reason a test may skip in CI, which has no GPU


def pytest_runtest_makereport(item, call):
    """In CI every dependency and offline file is installed, so a skip there would hide a test: make it a failure."""
    if not os.environ.get("CI") or call.excinfo is None or not call.excinfo.errisinstance(pytest.skip.Exception):
        return None
    reason = str(call.excinfo.value)
    if GPU_ONLY in reason:
        return None
    from _pytest.reports import TestReport

    report = TestReport.from_item_and_call(item, call)
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, where nothing may skip but GPU tests: {reason}"
    return report


# Where TensorFlow is missing, its chapter cells skip with one line (a hook shared with the child pytest runs).
from plugins.nbval_tensorflow import pytest_collection_modifyitems  # noqa: E402,F401
# Where GPT2_LIB_FAILURES_LOG names a file, each failure is written to it as it happens (tools/test_gpu.sh).
from plugins.failures_log import pytest_runtest_logreport  # noqa: E402,F401
