#!/usr/bin/env bash
# Build the book: execute every chapter (re-running only those whose code changed) and render HTML to _build/html.
source "$(dirname "$0")/env.sh"
jb build . -W -n --keep-going "$@"
echo "open _build/html/index.html"
