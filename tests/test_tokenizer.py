"""Chapter 1's BPE must give exactly tiktoken's ids, and follow its rules for special tokens."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt2_lib.tokenizer import BPETokenizer, bytes_to_unicode, get_tokenizer

HARD_CASES = [
    "I'm sure you'll see they've done it, didn't they? I'D SAY SO's 'tis",
    "don't won't can't shan't y'all rock'n'roll ''quoted''",
    "   leading and trailing   ",
    "a  b   c    d     e",
    "tabs\tand\t\ttabs",
    "newlines\n\n\nand\r\nwindows\r\n\r\n",
    " \n \n\t \u00a0 non-breaking\u00a0space \u2003em-space",
    "3.14159 1,000,000 2024-11-25 0x1F 12345678901234567890 ٣٤٥ ½",
    "👋🏽 emoji 🧑‍🔬👨‍👩‍👧 ❤️ 🇫🇷",
    "你好，世界。これは日本語です。한국어 텍스트",
    "café naïve façade Ångström Zürich ﬁ ligature e\u0301",
    "Привет мир, γειά σου κόσμε, مرحبا بالعالم, שלום",
    "mixed:abc你好123ü!?…—–",
    "before<|endoftext|>after",
    "<|endoftext|>",
    "<|endoftext",
    "",
    " ",
    "\n",
]


@pytest.mark.parametrize("text", HARD_CASES)
def test_hard_cases_match_tiktoken(text, scratch_tokenizer, tiktoken_gpt2):
    kwargs = {"allowed_special": "all"}
    assert scratch_tokenizer.encode(text, **kwargs) == tiktoken_gpt2.encode(text, **kwargs)
    assert scratch_tokenizer.encode(text, disallowed_special=()) == tiktoken_gpt2.encode(text, disallowed_special=())
    assert scratch_tokenizer.decode(scratch_tokenizer.encode(text, **kwargs)) == text


def test_all_of_tiny_shakespeare_as_one_text_matches_tiktoken(shakespeare, scratch_tokenizer, tiktoken_gpt2):
    ours, theirs = scratch_tokenizer.encode(shakespeare), tiktoken_gpt2.encode(shakespeare)
    first_diff = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), None)
    assert first_diff is None and len(ours) == len(theirs), f"first difference at token {first_diff}"
    assert scratch_tokenizer.decode(ours) == shakespeare


def test_every_line_of_tiny_shakespeare_matches_tiktoken(shakespeare, scratch_tokenizer, tiktoken_gpt2):
    lines = shakespeare.splitlines(keepends=True)
    bad = [line for line in lines if scratch_tokenizer.encode(line) != tiktoken_gpt2.encode(line)]
    assert not bad, f"{len(bad)} of {len(lines)} lines differ, e.g. {bad[:3]}"


@settings(max_examples=1000, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_random_unicode_matches_tiktoken(text, scratch_tokenizer, tiktoken_gpt2):
    assert scratch_tokenizer.encode(text, disallowed_special=()) == tiktoken_gpt2.encode(text, disallowed_special=())
    assert scratch_tokenizer.decode(scratch_tokenizer.encode(text, disallowed_special=())) == text


def test_special_token_is_an_error_unless_allowed(scratch_tokenizer):
    with pytest.raises(ValueError, match="allowed_special"):
        scratch_tokenizer.encode("a<|endoftext|>b")
    assert scratch_tokenizer.encode("a<|endoftext|>b", allowed_special={"<|endoftext|>"})[1] == 50256


def test_unknown_special_token_is_an_error(scratch_tokenizer):
    with pytest.raises(ValueError, match="unknown special tokens"):
        scratch_tokenizer.encode("x", allowed_special={"<|im_start|>"})


def test_decode_of_an_id_outside_the_vocabulary_is_a_clear_error(scratch_tokenizer):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        scratch_tokenizer.decode([50257])


def test_vocabulary_and_end_of_text(scratch_tokenizer, tiktoken_gpt2):
    assert scratch_tokenizer.n_vocab == tiktoken_gpt2.n_vocab == 50257
    assert scratch_tokenizer.eot_token == tiktoken_gpt2.eot_token == 50256


def test_byte_table_is_a_bijection_onto_printable_characters():
    table = bytes_to_unicode()
    assert sorted(table) == list(range(256)) and len(set(table.values())) == 256
    assert all(c.isprintable() and not c.isspace() for c in table.values())


def test_from_files_reads_a_small_handmade_vocabulary(tmp_path):
    b2u = bytes_to_unicode()
    encoder = {b2u[b]: b for b in range(256)} | {"ab": 256, "abc": 257, "<|endoftext|>": 258}
    (tmp_path / "encoder.json").write_text(__import__("json").dumps(encoder))
    (tmp_path / "vocab.bpe").write_text("#version: 0.2\na b\nab c\n")
    tok = BPETokenizer.from_files(tmp_path / "encoder.json", tmp_path / "vocab.bpe")
    assert tok.encode("abcab") == [257, 256] and tok.decode([257, 256]) == "abcab"


def test_get_tokenizer_gives_one_interface(tiktoken_gpt2):
    for impl in ("tiktoken", "scratch"):
        tok = get_tokenizer(impl)
        assert tok.encode("Hello, I am a language model,") == [15496, 11, 314, 716, 257, 3303, 2746, 11]
        assert tok.decode([15496, 11]) == "Hello,"
    with pytest.raises(ValueError, match="unknown tokenizer"):
        get_tokenizer("sentencepiece")
