"""Data parallelism through torchrun: two CPU processes (gloo) train exactly like one with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gpt2_lib.distributed import Rank, RankSlice, init_from_env
from gpt2_lib.train import read_metrics

TRAIN = ["--model", "tiny", "--n-layer", "2", "--n-head", "2", "--n-embd", "32", "--block-size", "32",
         "--max-steps", "6", "--eval-every", "3", "--eval-batches", "2", "--save-every", "3", "--device", "cpu",
         "--no-progress", "--lr", "1e-3", "--min-lr", "1e-3"]  # a constant rate: the schedule
# would otherwise depend on --max-steps, which the resume test changes


def run(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def data(tmp_path_factory, shakespeare) -> Path:
    folder = tmp_path_factory.mktemp("ddp")
    text = folder / "text.txt"
    text.write_text(shakespeare[:60_000], encoding="utf-8")
    run([sys.executable, "-m", "gpt2_lib", "prepare", "--input", str(text), "--out", str(folder / "data"),
         "--no-progress"], folder)
    return folder


@pytest.mark.slow  # torchrun starts processes
def test_two_processes_equal_one_with_the_same_global_batch(data):
    one, two = data / "one", data / "two"
    run([sys.executable, "-m", "gpt2_lib", "train", "--data", str(data / "data"), "--out", str(one),
         "--batch-size", "4", *TRAIN], data)
    run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gpt2_lib",
         "train", "--data", str(data / "data"), "--out", str(two), "--batch-size", "2", *TRAIN], data)
    single, parallel = read_metrics(one / "metrics.jsonl"), read_metrics(two / "metrics.jsonl")
    assert [r["step"] for r in parallel] == [r["step"] for r in single], "rank 0 alone must log each step once"
    for a, b in zip(single, parallel):
        assert a["tokens"] == b["tokens"], "tokens count the global batch"
        for key in ("train_loss", "val_loss", "train_loss_eval" if "train_loss_eval" in a else "lr"):
            if key in a:
                assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), f"step {a['step']}: {key}"
    checkpoints = sorted(p.name for p in two.iterdir() if p.name.startswith("checkpoint-"))
    assert checkpoints == ["checkpoint-000006"], checkpoints


@pytest.mark.slow  # torchrun starts processes
def test_a_data_parallel_run_resumes_where_it_stopped(data):
    out = data / "resumed"
    base = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gpt2_lib",
            "train", "--data", str(data / "data"), "--out", str(out), "--batch-size", "2", *TRAIN]
    first = [a if a != "6" else "3" for a in base]  # stop after the checkpoint at step 3
    run(first, data)
    run(base + ["--resume"], data)
    straight = data / "straight"
    run([a if a != str(out) else str(straight) for a in base], data)
    uninterrupted, resumed = read_metrics(straight / "metrics.jsonl"), read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in resumed] == list(range(0, 7))
    for a, b in zip(uninterrupted, resumed):
        for key in ("train_loss", "val_loss"):
            if key in a:
                assert b[key] == pytest.approx(a[key], rel=1e-6), f"step {a['step']}: {key}"


class Counter:
    """A BatchSource whose rows number the batches it has drawn."""

    def __init__(self, rows: int):
        self.rows, self.drawn = rows, 0

    def next_batch(self):
        self.drawn += 1
        x = torch.arange(self.rows)[:, None] + 100 * self.drawn
        return x, x

    def state_dict(self):
        return {"drawn": self.drawn}

    def load_state_dict(self, state):
        self.drawn = state["drawn"]


def test_each_rank_takes_its_own_rows_of_the_same_global_batch():
    rows = [RankSlice(Counter(6), Rank(r, r, 3, torch.device("cpu"))).next_batch()[0].flatten().tolist()
            for r in range(3)]
    assert rows == [[100, 101], [102, 103], [104, 105]]
    with pytest.raises(ValueError, match="does not split over 4 ranks"):
        RankSlice(Counter(6), Rank(0, 0, 4, torch.device("cpu"))).next_batch()


def test_alone_there_is_no_process_group(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert init_from_env() is None
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(ValueError, match="not 'mps'"):
        init_from_env("mps")
