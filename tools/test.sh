#!/usr/bin/env bash
# The book's whole test suite, from a clean clone: the export check, the unit tests (among them a strict
# `jupyter-book build .` of a fresh copy from the stored outputs, into _build/check), every chapter under nbval
# (outputs compared with the stored ones), then every built page in a headless browser.
source "$(dirname "$0")/env.sh"
export TQDM_DISABLE=1  # progress bars would only add noise to compared outputs
export HF_HUB_DISABLE_PROGRESS_BARS=1  # transformers' own bars (a notebook widget where ipywidgets is installed)
# Without internet OpenAI's weights are unobtainable: load random weights in their exact layout instead (each
# load prints a banner saying so). With internet the real files are downloaded and used.
export GPT2_LIB_SYNTHETIC_WEIGHTS="${GPT2_LIB_SYNTHETIC_WEIGHTS:-1}"

echo "== gpt2_lib/ must be what the notebooks export"
python -m gpt2_lib._export --check

echo "== unit tests and notebooks (nbval)"
python -m pytest tests notebooks --nbval --nbval-current-env --nbval-cell-timeout=900 \
    --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider "$@"

echo "== every page in headless Chromium: images, links, error boxes, figures; screenshots in _build/screenshots"
python tools/check_book_browser.py _build/check/_build/html --screenshots _build/screenshots
