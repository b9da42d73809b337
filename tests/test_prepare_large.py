"""`prepare` on a generated ~300 MB corpus: streamed in ~1 MB chunks through 2 worker processes, in bounded memory,
with every token exactly what tiktoken gives and every chunk split 90/10.

The corpus is ~270 units of ~1.1 MB, written to disk one unit at a time: a numbered header line, then tinyshakespeare
with its blank lines dropped and every line stripped, rotated by a different number of lines in each unit. Every
newline then sits between two non-space characters, where GPT-2's pre-tokenizer always makes it a token of its own
(198) and starts afresh after it, so the tokens of lines put together are the tokens of each line put together. The
expected ids of every unit are rearranged from one tokenization of the ~1 MB body, never computed from 300 MB again.
`prepare` cuts its chunks where a non-space meets a space, here just before each unit's final newline, so every chunk
but the first begins with the newline that ended the unit before it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # a 300 MB corpus

ROOT = Path(__file__).resolve().parent.parent
TARGET_BYTES = 300 * 10**6
VAL_FRACTION = 0.1
NEWLINE, EOT = 198, 50256  # GPT-2's ids of "\n" and <|endoftext|>
KIB = 1 if sys.platform != "darwin" else 1 / 1024  # ru_maxrss is in KiB on Linux, in bytes on macOS
# What prepare itself may add to a process's peak RSS, whatever the size of the input. Measured on the 2-core dev
# machine (CPU torch), when prepare lived in gpt2_lib.data and imported torch: the import alone peaked at 219 MiB,
# prepare added 13 MiB to that in the main process, and each worker peaked below the main process. A prepare
# that held the text (286 MiB), its ids (171 MiB as uint16) or every chunk in flight at once would be far above.
GROWTH_BOUND_MIB = 64

# Runs in the child, as a script file: prepare with 2 workers; each worker appends its pid and peak RSS to a log after
# every chunk. prepare's pool spawns its workers, which run this file's top level again (not its __main__ block):
# so the logging encoder is patched in there too, and found by name when the parent hands it to them.
CHILD = r"""
import json, os, resource, sys, time
import gpt2_lib.prepare as data

source, out, chunk_chars, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
encode = data._encode

def logged_encode(piece):
    ids = encode(piece)
    with open(log, "a") as f:  # one short append per chunk: whole lines, even from two processes
        f.write(f"{os.getpid()} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\n")
    return ids

data._encode = logged_encode

if __name__ == "__main__":
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    meta = data.prepare([source], out, %r, workers=2, chunk_chars=chunk_chars, progress=False)
    seconds = time.perf_counter() - start
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"meta": meta, "seconds": seconds, "pid": os.getpid(), "rss_after_import": before.ru_maxrss,
                      "rss_peak": own.ru_maxrss, "workers_rss_peak": workers.ru_maxrss,
                      "main_cpu": own.ru_utime + own.ru_stime - before.ru_utime - before.ru_stime,
                      "workers_cpu": workers.ru_utime + workers.ru_stime}))
""" % VAL_FRACTION


class Corpus:
    """Units of equal length: a header line, then the stripped non-blank lines of a text, rotated per unit."""

    def __init__(self, text: str, enc, target_bytes: int):
        lines = [line for line in (raw.strip() for raw in text.splitlines()) if line]
        self.enc, self.n_lines = enc, len(lines)
        self.body = "".join(line + "\n" for line in lines)
        assert self.body.isascii(), "one character per byte: the units' byte offsets are their character offsets"
        self.body_ids = np.array(enc.encode_ordinary(self.body), dtype=np.uint16)
        self.char_starts = np.cumsum([0] + [len(line) + 1 for line in lines[:-1]])
        newlines = np.flatnonzero(self.body_ids == NEWLINE)
        assert len(newlines) == self.n_lines, "every line must end in exactly one newline token"
        self.token_starts = np.concatenate([[0], newlines[:-1] + 1])
        self.unit_chars = len(self.header(0)) + len(self.body)
        self.n_units = -(-target_bytes // self.unit_chars)

    def shift(self, i: int) -> int:
        return i * 7919 % self.n_lines  # 7919 is prime: a different rotation for every unit

    def header(self, i: int) -> str:
        return f"Part {i:04d}, from line {self.shift(i):05d}:\n"  # fixed width: every unit has unit_chars characters

    def text(self, i: int) -> str:
        c = self.char_starts[self.shift(i)]
        return self.header(i) + self.body[c:] + self.body[:c]

    def ids(self, i: int) -> np.ndarray:
        """tiktoken's ids of text(i), put together from the ids of the header and the rotated body's lines."""
        t = self.token_starts[self.shift(i)]
        header = np.array(self.enc.encode_ordinary(self.header(i)), dtype=np.uint16)
        return np.concatenate([header, self.body_ids[t:], self.body_ids[:t]])

    def chunk_ids(self, i: int) -> np.ndarray:
        """The ids of prepare's i-th chunk: the newline before the unit (but the first), the unit without its own last
        newline (but the last, which keeps it and gets <|endoftext|>)."""
        ids, last = self.ids(i), i == self.n_units - 1
        parts = [[NEWLINE] if i else [], ids if last else ids[:-1], [EOT] if last else []]
        return np.concatenate(parts).astype(np.uint16)

    def chunk_span(self, i: int) -> tuple[int, int]:
        """Where prepare's i-th chunk lies in the file, in bytes (one per character: the text is ASCII)."""
        last = i == self.n_units - 1
        return i * self.unit_chars - (1 if i else 0), (i + 1) * self.unit_chars - (0 if last else 1)

    def write(self, path: Path) -> None:
        with open(path, "w", encoding="utf-8", newline="\n") as f:  # one ~1 MB unit in memory at a time
            for i in range(self.n_units):
                f.write(self.text(i))


@pytest.fixture(scope="module")
def corpus(shakespeare, tiktoken_gpt2) -> Corpus:
    return Corpus(shakespeare, tiktoken_gpt2, TARGET_BYTES)


@pytest.fixture(scope="module")
def prepared(corpus, tmp_path_factory):
    """The corpus on disk, and what `prepare` wrote from it in a child process (its report, and its workers' log)."""
    folder = tmp_path_factory.mktemp("large")
    source, out, log = folder / "corpus.txt", folder / "data", folder / "workers.log"
    try:
        corpus.write(source)
        # chunk_chars = one unit (~1.1 MB, about the default): one chunk per unit, cut before the unit's last newline
        args = [str(source), str(out), str(corpus.unit_chars), str(log)]
        script = folder / "child.py"
        script.write_text(CHILD)
        proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, cwd=ROOT,
                              env=dict(os.environ), timeout=300)  # TIKTOKEN_CACHE_DIR as the tiktoken fixture set it
        assert proc.returncode == 0, f"prepare failed in the child process:\n{proc.stderr[-3000:]}"
        report = json.loads(proc.stdout.splitlines()[-1])
        chunks = [tuple(map(int, line.split())) for line in log.read_text().splitlines()]  # (pid, peak RSS)
        yield SimpleNamespace(source=source, out=out, size=source.stat().st_size, report=report, chunks=chunks)
    finally:
        shutil.rmtree(folder)  # ~470 MB: pytest would otherwise keep it among its last three runs' temp folders


def test_corpus_lines_tokenize_alone_exactly_as_put_together(corpus):
    enc = corpus.enc
    assert corpus.n_units * corpus.unit_chars >= 200 * 10**6, "the corpus must be several hundred MB"
    for i in (0, 1, corpus.n_units - 1):
        assert enc.encode_ordinary(corpus.text(i)) == corpus.ids(i).tolist(), f"unit {i}: rotated ids differ"
    joined = enc.encode_ordinary(corpus.text(0) + corpus.text(1))
    assert joined == np.concatenate([corpus.ids(0), corpus.ids(1)]).tolist(), "tokens merged across a unit boundary"
    # why blank lines are dropped: "\n\n" at the end of a piece is one token (628), two (198 198) before a word
    assert enc.encode_ordinary("speak.\n\n") + enc.encode_ordinary("All:") != enc.encode_ordinary("speak.\n\nAll:")


def test_prepare_of_300_mb_writes_every_chunk_as_tiktoken_does_split_90_10(prepared, corpus):
    n_train = n_val = 0
    with open(prepared.out / "train.bin", "rb") as train, open(prepared.out / "val.bin", "rb") as val:
        for i in range(corpus.n_units):  # one chunk's ids at a time, read in order from both files
            ids = corpus.chunk_ids(i)
            cut = len(ids) - round(len(ids) * VAL_FRACTION)
            got_train = np.fromfile(train, dtype=np.uint16, count=cut)
            got_val = np.fromfile(val, dtype=np.uint16, count=len(ids) - cut)
            where = f"in chunk {i} of {corpus.n_units}"
            assert np.array_equal(got_train, ids[:cut]), f"train.bin differs from tiktoken's ids {where}"
            assert np.array_equal(got_val, ids[cut:]), f"val.bin differs from tiktoken's ids {where}"
            n_train, n_val = n_train + cut, n_val + len(ids) - cut
        assert train.read() == b"" and val.read() == b"", "train.bin or val.bin holds more ids than the corpus has"
    meta = prepared.report["meta"]
    assert json.loads((prepared.out / "meta.json").read_text()) == meta
    assert (meta["train_tokens"], meta["val_tokens"]) == (n_train, n_val), "meta.json's counts differ from the files"
    share = n_val / (n_train + n_val)
    assert abs(share - VAL_FRACTION) < 1e-4, f"val holds {share:.5f} of the tokens, not {VAL_FRACTION}"


def test_prepare_of_300_mb_decodes_back_to_the_text_at_sampled_positions(prepared, corpus):
    enc, lengths = corpus.enc, [len(corpus.chunk_ids(i)) for i in range(corpus.n_units)]
    cuts = [n - round(n * VAL_FRACTION) for n in lengths]
    train = np.memmap(prepared.out / "train.bin", dtype=np.uint16, mode="r")
    val = np.memmap(prepared.out / "val.bin", dtype=np.uint16, mode="r")
    with open(prepared.source, "rb") as f:
        for i in (0, 1, corpus.n_units // 2, corpus.n_units - 1):
            t, v = sum(cuts[:i]), sum(lengths[:i]) - sum(cuts[:i])  # where chunk i starts in train.bin and val.bin
            ids = np.concatenate([train[t : t + cuts[i]], val[v : v + lengths[i] - cuts[i]]]).tolist()
            start, end = corpus.chunk_span(i)
            f.seek(start)
            expected = f.read(end - start) + (b"<|endoftext|>" if i == corpus.n_units - 1 else b"")
            assert enc.decode_bytes(ids) == expected, f"chunk {i}'s ids do not decode to the file's bytes there"


def test_prepare_of_300_mb_streams_through_two_workers_in_bounded_memory(prepared, corpus):
    report, mib = prepared.report, lambda kib: kib * KIB / 1024
    pids = {pid for pid, _ in prepared.chunks}
    assert len(prepared.chunks) == corpus.n_units, (
        f"{len(prepared.chunks)} chunks tokenized, expected one per ~1 MB unit: {corpus.n_units}")
    assert len(pids) == 2 and report["pid"] not in pids, f"chunks were tokenized by processes {pids}, not 2 workers"
    assert report["workers_cpu"] > 3 * report["main_cpu"], (
        f"the workers used {report['workers_cpu']:.1f} s of CPU, the main process {report['main_cpu']:.1f} s: "
        "the tokenizing should happen in the workers")
    # RUSAGE_CHILDREN covers the workers only once the child has waited for them: it must be at least what they logged
    assert report["workers_rss_peak"] >= max(rss for _, rss in prepared.chunks), "the workers' memory went unmeasured"
    # RSS is counted from the child's peak right after `import gpt2_lib.prepare` (whatever the input);
    # a spawned worker imports the same modules, so it starts from about that.
    base, size = mib(report["rss_after_import"]), prepared.size / 2**20
    for who, peak in (("the main process", mib(report["rss_peak"])), ("a worker", mib(report["workers_rss_peak"]))):
        assert peak - base < GROWTH_BOUND_MIB, (
            f"{who} peaked at {peak:.0f} MiB, {peak - base:.0f} MiB above the {base:.0f} MiB after import, for a "
            f"{size:.0f} MiB input: prepare should hold a few ~1 MB chunks at a time, not grow with the input")
