#!/usr/bin/env bash
# Build the book: execute every chapter (re-running only those whose code changed) and render HTML to _build/html.
source "$(dirname "$0")/env.sh"
# Chapter 7 onwards load OpenAI's GPT-2 weights. Where they cannot be downloaded (an offline machine) the chapters
# fall back to random weights in the same layout and say so in a banner; set GPT2_LIB_SYNTHETIC_WEIGHTS=0 to make
# a missing download an error instead (what a build that publishes the book should do).
export GPT2_LIB_SYNTHETIC_WEIGHTS="${GPT2_LIB_SYNTHETIC_WEIGHTS:-1}"
export TQDM_DISABLE=1  # as in CI and tools/run_notebooks.sh: a progress bar would be stored as stderr in the page
export HF_HUB_DISABLE_PROGRESS_BARS=1  # transformers' own bars (a notebook widget where ipywidgets is installed)
jb build . -W -n --keep-going "$@"
echo "open _build/html/index.html"
