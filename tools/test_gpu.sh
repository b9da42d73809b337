#!/usr/bin/env bash
# The unit tests and every chapter under nbval on a CUDA GPU, as a reader with a GPU runs them (the chapters pick the
# GPU themselves), in this machine's own Python (its CUDA build of torch), with gpt2_lib from this checkout.
# Outputs are not compared (--nbval-lax): they were stored from a CPU run. Prints one summary line and appends it
# to gpt2_lib/results/test_gpu.jsonl. The bar is 0 failed; cells that need TensorFlow where it is missing are
# skipped with that one line and counted as skipped. Each failure is also written the moment it happens to
# _build/test_gpu-<pid>-failed.txt (its path is printed first): a run cut off by a time limit still names them.
#
#   bash tools/test_gpu.sh                 # everything
#   bash tools/test_gpu.sh tests           # only the unit tests (any pytest arguments)
#
# With pytest-xdist on a machine of many cores, run the two halves side by side (each prints and records its line):
#   bash tools/test_gpu.sh tests -n 12 --dist worksteal &         # idle workers take queued tests from busy ones
#   bash tools/test_gpu.sh notebooks tests/test_book_readers.py -n 8 --dist loadfile &   # a chapter's cells: one worker
#   wait
# (--dist load queues neighbouring tests on one worker: the slow chapter-outside-the-repository tests then run one
# after another, past ten minutes on an H200 machine of 16 cores.)
# Keep tests/ in the run: its conftest is what skips the TensorFlow cells where TensorFlow is missing.
export GPT2_LIB_USE_CURRENT_PYTHON=1
source "$(dirname "$0")/env.sh"
set +e
export TQDM_DISABLE=1
export HF_HUB_DISABLE_PROGRESS_BARS=1  # transformers' own bars (a notebook widget where ipywidgets is installed)
if [ -d "$MIRROR/tiktoken_cache" ]; then  # offline GPU machines: the mirror's copy wins over any other cache
    export TIKTOKEN_CACHE_DIR="$MIRROR/tiktoken_cache"
fi
export GPT2_LIB_SYNTHETIC_WEIGHTS="${GPT2_LIB_SYNTHETIC_WEIGHTS:-1}"  # offline: random weights, announced
python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'tools/test_gpu.sh needs a CUDA GPU')" || exit 2
# A machine's own Python may lack some of requirements.txt: name them once, up front. The tests that need
# TensorFlow, jupyter-book or ruff then skip; any other (chapter 9's rouge-score, say) fails test by test.
python - <<'PY'
import importlib.metadata as metadata
import re

wanted = [re.split(r"[=<>~!\[;# ]", line.strip())[0] for line in open("requirements.txt")]
missing = []
for name in filter(None, wanted):
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        missing.append(name)
if missing:
    print("not installed in this Python (from requirements.txt):", ", ".join(missing))
PY

[ $# -gt 0 ] || set -- tests notebooks
report="$ROOT/_build/test_gpu-$$.xml"  # one per invocation: several may run at once
# each failure, named the moment it happens: a run cut off by a time limit still says what failed
export GPT2_LIB_FAILURES_LOG="$ROOT/_build/test_gpu-$$-failed.txt"
echo "failures, as they happen: $GPT2_LIB_FAILURES_LOG"
python -m pytest "$@" --nbval-lax --nbval-current-env --nbval-cell-timeout=900 \
    -p no:cacheprovider -q -rfs --junitxml="$report"
status=$?
python - "$report" "$status" "$*" <<'PY'
import datetime, json, sys, xml.etree.ElementTree as ET
from pathlib import Path

import torch

import gpt2_lib.results as results

report, status, ran = sys.argv[1], int(sys.argv[2]), sys.argv[3]
suites = ET.parse(report).getroot()
suites = [suites] if suites.tag == "testsuite" else list(suites)
count = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
failed = count["failures"] + count["errors"]
row = {"suite": "tools/test_gpu.sh", "ran": ran, "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
       "date": datetime.date.today().isoformat(), "passed": count["tests"] - failed - count["skipped"],
       "failed": failed, "skipped": count["skipped"], "exit_status": status,
       "complete": status in (0, 1)}  # pytest exits 2 when interrupted: the counts then cover only what ran
with open(results.RESULTS_DIR / "test_gpu.jsonl", "a") as f:
    f.write(json.dumps(row) + "\n")
print(f"test_gpu: {row['passed']} passed, {row['failed']} failed, {row['skipped']} skipped "
      f"on {row['gpu']}, torch {row['torch']}, {row['date']}" + ("" if row["complete"] else " (interrupted)"))
PY
exit $status
