#!/usr/bin/env bash
# Re-run chapter notebooks top to bottom and save their outputs (what nbval then checks), then re-export gpt2_lib.
source "$(dirname "$0")/env.sh"
export TQDM_DISABLE=1  # progress bars are noise in stored outputs
export HF_HUB_DISABLE_PROGRESS_BARS=1  # transformers' own bars (a notebook widget where ipywidgets is installed)
export GPT2_LIB_SYNTHETIC_WEIGHTS="${GPT2_LIB_SYNTHETIC_WEIGHTS:-1}"  # offline: random weights, announced (see test.sh)
python -m gpt2_lib._export  # later chapters import what earlier ones export
python tools/run_notebooks.py "$@"
