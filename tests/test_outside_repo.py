"""The Colab path, in CI: a chapter copied alone into an empty folder runs with `gpt2_lib` installed from a wheel.

Triton is blocked too (tests/no_triton), as on a reader's Mac or Windows laptop, which installs the package the same
way; so these runs also stand for the chapters' check without Triton (see test_no_triton.py).

On Colab a reader opens one notebook, far from this repository, and its setup cell installs `gpt2_lib`. Whatever
the chapter reads or runs must come with that install (results as package data, benchmarks as `python -m`), and
no cell may open a path relative to the repository. These tests build the wheel, install it into a folder of its
own, and run each chapter that reads a file or starts a program under `pytest --nbval-lax` from an empty folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_of_repository

ROOT = Path(__file__).resolve().parent.parent
# The chapters that read a results file, start a subprocess or write files of their own.
CHAPTERS = ["06_generation", "07_openai_weights", "08_training", "09_finetuning", "10_fast_training",
            "appendix_c_training_runs", "appendix_e_command_line"]


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory) -> Path:
    """gpt2_lib built as a wheel from this checkout and installed (without dependencies) into a folder of its own."""
    dist, site = tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("site")
    source = copy_of_repository(tmp_path_factory.mktemp("source"))  # a fresh clone's files; builds leave ROOT alone
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(dist), str(source)], capture_output=True, text=True)
    assert build.returncode == 0, f"building the wheel failed:\n{build.stdout}{build.stderr}"
    wheel = next(dist.glob("gpt2_lib-*.whl"))
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                              "--target", str(site), str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, f"installing {wheel.name} failed:\n{install.stdout}{install.stderr}"
    assert (site / "gpt2_lib" / "results" / "train_speed.jsonl").is_file(), "the wheel lacks the results files"
    return site


def test_no_code_cell_opens_a_path_relative_to_the_repository():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for i, cell in enumerate(cells):
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and (hit := re.search(r"[\"']\.\./[^\"']*[\"']", source)):
                raise AssertionError(f"{path.name} cell {i} names a path relative to the repository: {hit.group(0)}")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_alone_in_an_empty_folder_with_gpt2_lib_from_a_wheel(chapter, wheel_site, tmp_path):
    shutil.copy(ROOT / "notebooks" / f"{chapter}.ipynb", tmp_path)
    blocker = ROOT / "tests" / "no_triton"  # its sitecustomize hides Triton from every process, kernels included
    plugins = ROOT / "tests" / "plugins"  # nbval_tensorflow: TensorFlow's cells skip where it is missing, as in the suite
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(wheel_site), str(blocker), str(plugins)])}
    env.pop("TRITON_INTERPRET", None)
    where = subprocess.run([sys.executable, "-c", "import gpt2_lib; print(gpt2_lib.__file__)"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(wheel_site)), f"gpt2_lib came from {where}, not from the installed wheel"
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # this folder is the whole project
    run = subprocess.run([sys.executable, "-m", "pytest", f"{chapter}.ipynb", "--nbval-lax", "--nbval-current-env",
                          "--nbval-cell-timeout=900", "-q", "-p", "no:cacheprovider", "-p", "nbval_tensorflow"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, f"{chapter} failed outside the repository:\n{run.stdout[-8000:]}{run.stderr[-2000:]}"
