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
        assert tok.decode_single_token_bytes(15496) == b"Hello", f"{impl}: the CLI streams tokens through this"
        assert tok.decode_single_token_bytes(tok.eot_token) == b"<|endoftext|>", impl
    with pytest.raises(ValueError, match="unknown tokenizer"):
        get_tokenizer("sentencepiece")


def test_lone_surrogates_become_the_replacement_character_as_in_tiktoken(scratch_tokenizer, tiktoken_gpt2):
    for text in ["a\ud800b", "\udfff", "x\ud83d\ude00y", "end\ud800"]:  # lone halves, and a pair written as two
        assert scratch_tokenizer.encode(text) == tiktoken_gpt2.encode(text), repr(text)
    assert scratch_tokenizer.encode("a\ud800b") == [64, 4210, 65]


def test_decode_of_a_non_integer_id_raises_like_tiktoken(scratch_tokenizer, tiktoken_gpt2):
    for bad in (1.7, "3"):
        with pytest.raises(TypeError):
            tiktoken_gpt2.decode([bad])
        with pytest.raises(TypeError):
            scratch_tokenizer.decode([bad])
    assert scratch_tokenizer.decode([True]) == tiktoken_gpt2.decode([True])  # bool is an int, for both


def test_disallowed_string_that_is_not_a_special_token_is_a_value_error(scratch_tokenizer, tiktoken_gpt2):
    kwargs = {"disallowed_special": {"<|foo|>"}}
    assert scratch_tokenizer.encode("x", **kwargs) == tiktoken_gpt2.encode("x", **kwargs)
    with pytest.raises(ValueError, match="<\\|foo\\|>.*disallowed_special"):
        scratch_tokenizer.encode("x<|foo|>y", **kwargs)


def test_long_run_without_spaces_matches_tiktoken(scratch_tokenizer, tiktoken_gpt2):
    rng = __import__("random").Random(0)
    for alphabet in ("abcdefghijklmnopqrstuvwxyz", "a", "ab", "0123456789"):
        text = "".join(rng.choices(alphabet, k=32000))
        assert scratch_tokenizer.encode(text) == tiktoken_gpt2.encode(text), f"alphabet {alphabet!r} differs"


class _CountingRanks(dict):
    """Merge ranks that count every lookup: the work a merge rule does, measured without a clock."""

    lookups = 0

    def get(self, key, default=None):
        self.lookups += 1
        return super().get(key, default)

    def __contains__(self, key):
        self.lookups += 1
        return super().__contains__(key)

    def __getitem__(self, key):
        self.lookups += 1
        return super().__getitem__(key)


def test_merging_a_long_chunk_does_work_linear_in_its_length_not_quadratic(scratch_tokenizer):
    from gpt2_lib.tokenizer import merge_pairs

    rng = __import__("random").Random(0)
    letters = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=32000))
    work = {}
    for n in (8000, 16000, 32000):
        ranks = _CountingRanks(scratch_tokenizer.ranks)
        merge_pairs(list(letters[:n]), ranks)
        work[n] = ranks.lookups
    ratios = [work[16000] / work[8000], work[32000] / work[16000]]
    assert all(r < 2.5 for r in ratios), f"rank lookups {work}: doubling the length multiplied them by {ratios}"


def test_every_gpt2_merge_joins_symbols_made_earlier(scratch_tokenizer):
    # the heap may merge a new pair before the other occurrences of the current one only because no merge can
    # use a symbol before the merge that makes it: check that GPT-2's merge list keeps that order
    made = set(bytes_to_unicode().values())
    for (a, b), _ in sorted(scratch_tokenizer.ranks.items(), key=lambda item: item[1]):
        assert a in made and b in made, f"merge {a!r} + {b!r} uses a symbol no earlier merge made"
        made.add(a + b)
