"""Shared fixtures: the offline mirror of public files, and GPT-2's tokenizer files from the download cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


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
