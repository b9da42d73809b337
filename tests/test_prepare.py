"""`prepare` turns text into uint16 token files exactly as tiktoken would, streamed; the loaders read them back."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt2_lib.data import RandomWindows, fixed_batches
from gpt2_lib.prepare import _read_chunks, load_tokens, prepare

TEXT = "".join(f"Line {i}: the quick brown fox jumps over the lazy dog, {i * i} times.\n" for i in range(300))


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_prepare_of_a_small_file_is_tiktoken_then_endoftext_split_90_10(text_file, tmp_path, tiktoken_gpt2):
    meta = prepare([text_file], tmp_path / "data", val_fraction=0.1, progress=False)
    train, val = load_tokens(tmp_path / "data", "train"), load_tokens(tmp_path / "data", "val")
    expected = tiktoken_gpt2.encode_ordinary(TEXT) + [50256]
    assert train.dtype == np.uint16 and isinstance(train, np.memmap)
    assert np.concatenate([train, val]).tolist() == expected, "prepare's ids differ from tiktoken's"
    assert len(val) == round(0.1 * len(expected)), f"val has {len(val)} of {len(expected)} tokens, not 10%"
    on_disk = json.loads((tmp_path / "data" / "meta.json").read_text())
    assert on_disk == meta and meta["train_tokens"] == len(train) and meta["val_tokens"] == len(val)


def test_prepare_in_a_process_pool_writes_the_same_files_as_one_process(text_file, tmp_path, tiktoken_gpt2):
    prepare([text_file, text_file], tmp_path / "one", workers=1, chunk_chars=500, progress=False)
    prepare([text_file, text_file], tmp_path / "pool", workers=2, chunk_chars=500, progress=False)
    for split in ("train", "val"):
        one, pool = (tmp_path / d / f"{split}.bin" for d in ("one", "pool"))
        assert one.read_bytes() == pool.read_bytes(), f"{split}.bin differs between 1 and 2 workers"
    ids = np.concatenate([load_tokens(tmp_path / "one", s) for s in ("train", "val")])
    assert (ids == 50256).sum() == 2, "each input file must end with exactly one <|endoftext|>"
    whole = len(tiktoken_gpt2.encode_ordinary(TEXT))
    assert len(ids) == 2 * (whole + 1), "chunking changed the tokens: chunks must be cut where no token changes"


# Text that stresses the cut: runs of mixed whitespace (blank lines, tabs, no-break and ideographic spaces),
# contractions, digits and punctuation next to spaces, non-ASCII letters.
PIECES = ["\n", "\n\n", " ", "  ", "\t", "\r\n", "\xa0", "\u3000", "word", "Ünïcode", "it's", "'ll", "42", "3.14",
          "?!", "--", "日本語", "\x1f"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from(PIECES), min_size=1, max_size=60), pieces_wanted=st.integers(1, 8))
def test_chunks_tokenize_to_the_ids_of_the_whole_text(parts, pieces_wanted, tmp_path, tiktoken_gpt2):
    text = "".join(parts)
    # small chunks, but more than 1/8 of the text: the cut that bounds memory after 8 chunks without whitespace
    # (which no real text has) stays out of the way
    chunk_chars = len(text) // pieces_wanted + 1
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8", newline="")
    pieces = list(_read_chunks(path, chunk_chars))
    assert "".join(p for p, _ in pieces) == text and [last for _, last in pieces] == [False] * (len(pieces) - 1) + [True]
    ids = [i for p, _ in pieces for i in tiktoken_gpt2.encode_ordinary(p)]
    assert ids == tiktoken_gpt2.encode_ordinary(text), f"cut as {[p for p, _ in pieces]!r}"


def test_prepare_rejects_missing_inputs_and_bad_fractions(tmp_path, text_file):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        prepare([tmp_path / "nope.txt"], tmp_path / "d", progress=False)
    with pytest.raises(ValueError, match="val_fraction"):
        prepare([text_file], tmp_path / "d", val_fraction=1.5, progress=False)


def test_load_tokens_says_how_to_make_missing_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="gpt2_lib prepare"):
        load_tokens(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no train.bin"):
        load_tokens(tmp_path / "empty")


def test_random_windows_restored_from_json_state_draw_the_same_batches():
    ids = np.arange(1000, dtype=np.uint16)
    a = RandomWindows(ids, batch_size=3, block_size=8, seed=5)
    a.next_batch()
    state = json.loads(json.dumps(a.state_dict()))  # what a checkpoint stores
    expected = [a.next_batch() for _ in range(3)]
    b = RandomWindows(ids, batch_size=3, block_size=8, seed=999)
    b.load_state_dict(state)
    for (x, y), (bx, by) in zip(expected, (b.next_batch() for _ in range(3))):
        assert (x == bx).all() and (y == by).all(), "a restored sampler drew different windows"
        assert (y[:, :-1] == x[:, 1:]).all(), "y must be x shifted left by one"


def test_fixed_batches_cover_the_split_and_reject_short_data():
    ids = np.arange(100, dtype=np.uint16)
    batches = fixed_batches(ids, n_batches=2, batch_size=3, block_size=10)
    assert [tuple(x.shape) for x, _ in batches] == [(3, 10), (3, 10)]
    assert batches[0][0][0, 0] == 0 and batches[-1][1][-1, -1] == 99, "windows should span the first to last id"
    with pytest.raises(ValueError, match="block_size"):
        fixed_batches(ids[:10], 1, 1, block_size=10)


@pytest.mark.parametrize("text", ["x" + "'s" * 1000, "a" * 1000, "x" + "'ll" * 400 + "!?" * 100, "9" * 999 + "'"])
def test_a_long_run_without_whitespace_still_gets_tiktokens_ids(text, tmp_path, tiktoken_gpt2):
    # 8 chunks of 51 characters: the odd length puts a forced cut between ' and s, where "'s" ([338]) is one token
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    pieces = [p for p, _ in _read_chunks(path, chunk_chars=51)]
    ids = [i for p in pieces for i in tiktoken_gpt2.encode_ordinary(p)]
    assert ids == tiktoken_gpt2.encode_ordinary(text), f"cut as {[p[-6:] for p in pieces]!r}"
    meta = prepare([path], tmp_path / "data", chunk_chars=51, progress=False)  # each chunk splits 90/10: count
    assert meta["train_tokens"] + meta["val_tokens"] == len(tiktoken_gpt2.encode_ordinary(text)) + 1


NO_SPACE = ["'s", "'t", "'ll", "'ve", "'re", "'", "s", "ll", "word", "Ünï", "42", "3.14", "?!", "--", "日本", "\x1f", "'S"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from(NO_SPACE), min_size=1, max_size=80), chunk_chars=st.integers(1, 6))
def test_chunks_of_text_without_whitespace_tokenize_to_the_ids_of_the_whole(parts, chunk_chars, tmp_path,
                                                                           tiktoken_gpt2):
    text = "".join(parts)
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8", newline="")
    pieces = [p for p, _ in _read_chunks(path, chunk_chars)]
    assert "".join(pieces) == text
    ids = [i for p in pieces for i in tiktoken_gpt2.encode_ordinary(p)]
    assert ids == tiktoken_gpt2.encode_ordinary(text), f"cut as {pieces!r}"


def test_a_file_that_is_not_utf8_is_named_in_the_error(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Un café, s'il vous plaît.\n".encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.txt is not UTF-8 text.*0xe9"):
        prepare([path], tmp_path / "d", progress=False)
    assert not list((tmp_path / "d").glob("*.bin*")), "no half-written files may stay"


def test_an_empty_input_is_refused_before_anything_is_written(tmp_path, text_file):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="empty input file.*empty.txt"):
        prepare([text_file, tmp_path / "empty.txt"], tmp_path / "d", progress=False)
    assert not (tmp_path / "d").exists()


def test_an_input_too_short_for_a_val_split_is_refused_and_leaves_no_files(tmp_path):
    (tmp_path / "short.txt").write_text("Hello")
    with pytest.raises(ValueError, match="too few to split: val.bin would be empty"):
        prepare([tmp_path / "short.txt"], tmp_path / "d", progress=False)
    assert not list((tmp_path / "d").iterdir()), f"left: {sorted(p.name for p in (tmp_path / 'd').iterdir())}"


def test_the_process_pool_spawns_its_workers_on_every_system(text_file, tmp_path, monkeypatch):
    import multiprocessing

    methods = []
    real = multiprocessing.get_context

    def get_context(method=None):
        methods.append(method)
        return real(method)

    monkeypatch.setattr(multiprocessing, "get_context", get_context)
    prepare([text_file], tmp_path / "pool", workers=2, chunk_chars=2000, progress=False)
    prepare([text_file], tmp_path / "one", workers=1, chunk_chars=2000, progress=False)
    assert methods == ["spawn"], f"start methods used: {methods}: fork does not exist on Windows"
    for split in ("train", "val"):
        assert (tmp_path / "pool" / f"{split}.bin").read_bytes() == (tmp_path / "one" / f"{split}.bin").read_bytes()
