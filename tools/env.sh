# Sourced by the other scripts in tools/: creates .venv (once), installs the pinned requirements into it,
# and sets up the download cache. Needs nothing but Python 3.10+.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
if [ -n "${GPT2_LIB_USE_CURRENT_PYTHON:-}" ]; then
    # A machine that brings its own environment (a GPU box with its CUDA build of torch): use it as it is, with
    # the package from this checkout.
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    python() { "$PYTHON" "$@"; }
else
    if [ ! -x .venv/bin/python ]; then
        echo "== creating .venv"
        "$PYTHON" -m venv .venv
    fi
    # shellcheck disable=SC1091
    source .venv/bin/activate

    # Reinstall only when the requirements change.
    stamp=".venv/.installed-$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        echo "== installing requirements into .venv"
        python -m pip install -q --upgrade pip
        torch_pin="$(grep -E '^torch==' requirements.txt)"
        if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
            python -m pip install -q "$torch_pin"
        else
            # No NVIDIA GPU: take PyTorch's CPU build (about 200 MB) instead of the multi-GB CUDA one that PyPI serves.
            python -m pip install -q --retries 0 "$torch_pin" --extra-index-url "${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
            # CUDA builds of PyTorch bring their own Triton; here chapter 10's kernel runs in Triton's CPU interpreter.
            if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ]; then
                python -m pip install -q "triton==3.9.0"
            fi
        fi
        python -m pip install -q -r requirements.txt
        python -m pip install -q --no-deps -e .
        touch "$stamp"
    fi
fi

# Where downloads are cached. A local mirror (default: ../shared, as laid beside this repository on offline
# machines) seeds the cache by checksum, so nothing needs the internet that is already on disk.
export GPT2_LIB_CACHE="${GPT2_LIB_CACHE:-$ROOT/_build/cache}"
mkdir -p "$ROOT/_build"
MIRROR="${GPT2_LIB_MIRROR:-$ROOT/../shared}"
if [ -d "$MIRROR" ]; then
    export GPT2_LIB_MIRROR="$MIRROR"  # the library looks there for a pinned file missing from the cache
    python -m gpt2_lib.download seed "$MIRROR" >/dev/null
    if [ -d "$MIRROR/tiktoken_cache" ]; then
        export TIKTOKEN_CACHE_DIR="${TIKTOKEN_CACHE_DIR:-$MIRROR/tiktoken_cache}"
    fi
fi
export PYTHONHASHSEED=0
