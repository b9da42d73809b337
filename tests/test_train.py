"""train(): the schedule, accumulation, validation of settings, the metrics log, and resuming exactly after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from gpt2_lib.model import GPT, GPTConfig
from gpt2_lib.train import TrainConfig, get_lr, memorisation_rate, ngram_list, read_metrics, train, train_step

ROOT = Path(__file__).resolve().parent.parent
SMALL = GPTConfig(vocab_size=97, block_size=16, n_layer=2, n_head=2, n_embd=32)
IDS = np.random.default_rng(0).integers(0, 97, size=2000).astype(np.uint16)


def _model(dropout: float = 0.0) -> GPT:
    torch.manual_seed(0)
    return GPT(replace(SMALL, dropout=dropout))


def test_lr_warms_up_linearly_then_decays_by_cosine_to_min_lr():
    cfg = TrainConfig(max_steps=100, warmup_steps=10, learning_rate=1.0, min_lr=0.1)
    lrs = [get_lr(s, cfg) for s in range(120)]
    assert lrs[0] == pytest.approx(1 / 11) and lrs[9] == pytest.approx(10 / 11), "warmup should rise linearly"
    assert lrs[10] == pytest.approx(1.0), "the peak should come right after warmup"
    assert lrs[55] == pytest.approx(0.55), "halfway through the decay the cosine is at the mean of peak and floor"
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])), "after warmup the rate must never rise"
    assert lrs[100] == lrs[119] == 0.1, "after max_steps the rate stays at min_lr"


class _Fixed:
    """A BatchSource that hands out given batches in order."""

    def __init__(self, batches):
        self.batches, self.i = batches, 0

    def next_batch(self):
        self.i += 1
        return self.batches[self.i - 1]

    def state_dict(self):
        return {"i": self.i}

    def load_state_dict(self, state):
        self.i = state["i"]


def test_accumulating_two_micro_batches_equals_one_batch_twice_as_large():
    x = torch.from_numpy(IDS[:4 * 17].astype(np.int64)).view(4, 17)
    big = _Fixed([(x[:, :-1], x[:, 1:])])
    small = _Fixed([(x[:2, :-1], x[:2, 1:]), (x[2:, :-1], x[2:, 1:])])
    results = []
    for source, cfg in ((big, TrainConfig(batch_size=4)), (small, TrainConfig(batch_size=2, grad_accum_steps=2))):
        model = _model()
        opt = model.configure_optimizers(0.1, 1e-3)
        loss, norm = train_step(model, opt, source, cfg, torch.device("cpu"), torch.autocast("cpu", enabled=False))
        results.append((loss, norm, torch.cat([p.detach().flatten() for p in model.parameters()])))
    (l1, n1, p1), (l2, n2, p2) = results
    assert l1 == pytest.approx(l2, abs=1e-6), f"mean loss {l1} vs {l2}"
    assert n1 == pytest.approx(n2, rel=1e-5), f"gradient norm {n1} vs {n2}: accumulated gradients must average"
    assert torch.allclose(p1, p2, atol=1e-6), f"weights differ by {(p1 - p2).abs().max():.2e} after one update"


@pytest.mark.parametrize("change, message", [
    (dict(batch_size=0), "batch_size must be at least 1"),
    (dict(max_steps=0), "max_steps must be at least 1"),
    (dict(eval_every=0), "eval_every must be at least 1"),
    (dict(warmup_steps=50, max_steps=10), "warmup_steps=50 exceeds max_steps=10"),
    (dict(block_size=64), "exceeds the model's block_size=16"),
    (dict(dtype="fp8"), "dtype must be"),
    (dict(save_every=5), "need out_dir"),
    (dict(patience=2), "give val_data"),
])
def test_bad_settings_are_rejected_with_the_fix(change, message):
    cfg = replace(TrainConfig(max_steps=5, batch_size=2, progress=False), **change)
    with pytest.raises(ValueError, match=message):
        train(_model(), cfg, IDS, None)


def test_val_data_too_short_for_a_block_is_an_error_before_training():
    with pytest.raises(ValueError, match="block_size \\+ 1 = 17"):
        train(_model(), TrainConfig(max_steps=5, batch_size=2, progress=False), IDS, IDS[:10])


def test_metrics_log_has_one_row_per_step_and_evals_at_the_interval(tmp_path):
    cfg = TrainConfig(max_steps=6, batch_size=2, eval_every=3, eval_batches=1, out_dir=str(tmp_path), progress=False)
    history = train(_model(), cfg, IDS[:1500], IDS[1500:])
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert rows == json.loads(json.dumps(history)), "metrics.jsonl must hold exactly the history train() returns"
    assert [r["step"] for r in rows] == list(range(7)), "one row per step, after a step-0 evaluation"
    assert all({"step", "train_loss", "lr", "tokens"} <= r.keys() for r in rows[1:])
    assert [r["step"] for r in rows if "val_loss" in r] == [0, 3, 6]
    assert rows[-1]["tokens"] == 6 * 2 * 16
    assert abs(rows[0]["val_loss"] - np.log(97)) < 0.2, "a fresh model should score about ln(vocab)"
    files = {p.name for p in (tmp_path / "checkpoint-000006").iterdir()}
    assert files == {"config.json", "model.safetensors", "trainer.json", "trainer.safetensors"}, \
        f"checkpoints must be safetensors and JSON only (no pickles), got {files}"


def test_early_stopping_stops_and_hands_back_the_best_model():
    ids = np.tile(np.arange(40, dtype=np.uint16), 50)
    val = np.random.default_rng(1).integers(0, 97, size=200).astype(np.uint16)  # nothing to learn: val gets worse
    cfg = TrainConfig(max_steps=200, batch_size=4, eval_every=5, eval_batches=2, patience=2, learning_rate=3e-3,
                      progress=False)
    model = _model()
    history = train(model, cfg, ids, val)
    evals = [r for r in history if "val_loss" in r]
    best = min(evals, key=lambda r: r["val_loss"])
    assert history[-1]["step"] < 200, "training should stop early on a val loss that keeps rising"
    assert history[-1]["step"] == evals[-1]["step"] and evals[-1]["step"] - best["step"] == 2 * 5
    from gpt2_lib.data import fixed_batches
    from gpt2_lib.train import evaluate

    on = next(model.parameters()).device  # train() leaves the model where it trained (cuda, on a GPU machine)
    again = evaluate(model, fixed_batches(val, 2, 4, 16), on)
    tolerance = 1e-5 if on.type == "cpu" else 2e-3  # on a GPU train() evaluates under bf16 autocast, this call not
    assert again == pytest.approx(best["val_loss"], abs=tolerance), "the model handed back must be the best one"


def test_memorisation_rate_counts_generated_ngrams_found_verbatim_in_training():
    train_grams = set(ngram_list([1, 2, 3, 4, 5, 6], 3))
    assert memorisation_rate([[1, 2, 3, 4, 9]], train_grams, 3) == pytest.approx(2 / 3)  # 123, 234 yes; 349 no
    assert memorisation_rate([[7, 8, 9]], train_grams, 3) == 0.0


def _cli_train(data: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}  # one thread: the same sums, bit for bit
    args = ["--data", str(data), "--out", str(out), "--n-layer", "2", "--n-head", "2", "--n-embd", "32",
            "--block-size", "32", "--batch-size", "2", "--max-steps", "16", "--eval-every", "4", "--eval-batches",
            "1", "--save-every", "4", "--dropout", "0.1", "--warmup-steps", "3", "--lr", "1e-3", "--no-progress",
            "--device", "cpu", *extra]
    return subprocess.Popen([sys.executable, "-m", "gpt2_lib", "train", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_a_run_killed_with_sigkill_and_resumed_gives_the_same_loss_curve(tmp_path):
    data = tmp_path / "data"
    text = "".join(f"Row {i} of a small test corpus, with some words that repeat.\n" for i in range(150))
    (tmp_path / "t.txt").write_text(text)
    from gpt2_lib.prepare import prepare

    prepare([tmp_path / "t.txt"], data, progress=False)
    whole = _cli_train(data, tmp_path / "whole")  # the reference, uninterrupted, running alongside
    victim = _cli_train(data, tmp_path / "killed")
    deadline = time.time() + 120
    while not any((tmp_path / "killed").glob("checkpoint-*[0-9]")) and victim.poll() is None:
        assert time.time() < deadline, "no checkpoint appeared within 2 minutes"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = max(r["step"] for r in read_metrics(tmp_path / "killed" / "metrics.jsonl"))
    resumed = _cli_train(data, tmp_path / "killed", "--resume")
    for p in (whole, resumed):
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    a = read_metrics(tmp_path / "whole" / "metrics.jsonl")
    b = read_metrics(tmp_path / "killed" / "metrics.jsonl")
    assert killed_at < 16, "the run finished before it could be killed; the test proves nothing"
    assert [r["step"] for r in b] == list(range(17)), f"each step must be logged once, got {[r['step'] for r in b]}"
    for x, y in zip(a, b):
        for key in ("train_loss", "val_loss", "lr", "tokens"):
            assert x.get(key) == y.get(key), f"step {x['step']}: {key} {x.get(key)} uninterrupted vs {y.get(key)} resumed"


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gpt2_lib", "train", "--data", str(tmp_path / "none"), "--out",
                             str(tmp_path / "o")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("error: no data folder"), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_a_few_low_precision_steps_on_a_gpu_stay_finite_and_learn(dtype):
    if dtype == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    ids = np.tile(np.arange(40, dtype=np.uint16), 50)
    cfg = TrainConfig(max_steps=30, batch_size=8, eval_every=30, eval_batches=2, learning_rate=3e-3, device="cuda",
                      dtype=dtype, progress=False)
    history = train(_model(), cfg, ids, ids)
    losses = [r["train_loss"] for r in history if "train_loss" in r]
    assert all(np.isfinite(losses)), f"{dtype}: non-finite loss in {losses}"
    assert history[-1]["val_loss"] < history[0]["val_loss"] - 1, f"{dtype}: the loss did not fall: {losses}"


def test_loss_curves_reads_a_metrics_file_and_draws_train_and_val(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from gpt2_lib.plots import loss_curves

    rows = [{"step": 0, "tokens": 0, "val_loss": 4.6}] + [
        {"step": s, "tokens": 32 * s, "lr": 1e-3, "train_loss": 4.6 - 0.1 * s, **({"val_loss": 4.0} if s == 4 else {})}
        for s in range(1, 5)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ax = loss_curves(tmp_path / "metrics.jsonl")
    lines = {line.get_label(): line.get_xydata().tolist() for line in ax.get_lines()}
    assert lines["train (per step)"] == [[s, 4.6 - 0.1 * s] for s in range(1, 5)]
    assert lines["val"] == [[0, 4.6], [4, 4.0]], "val points must come from the eval rows only"


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_puts_the_model_back_in_the_mode_it_was_in(training):
    from gpt2_lib.data import fixed_batches
    from gpt2_lib.train import evaluate

    model = _model(dropout=0.1).train(training)
    evaluate(model, fixed_batches(IDS, 1, 2, 16), torch.device("cpu"))
    assert model.training == training, f"evaluate() left a model that was in {'train' if training else 'eval'} " \
                                       f"mode in {'train' if model.training else 'eval'} mode"
    assert all(m.training == training for m in model.modules()), "a submodule's mode was changed"


def test_ctrl_c_in_train_finishes_the_step_saves_it_and_resuming_matches_a_run_never_stopped(tmp_path):
    from gpt2_lib.interrupt import Interrupted

    def ctrl_c_at_3(step, model):
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    cfg = TrainConfig(max_steps=6, batch_size=2, eval_every=1, eval_batches=1, out_dir=str(tmp_path / "stopped"),
                      progress=False)
    before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN under a shell's background job
    with pytest.raises(Interrupted) as stop:
        train(_model(dropout=0.1), cfg, IDS[:1500], IDS[1500:], on_eval=ctrl_c_at_3)
    assert (stop.value.step, stop.value.checkpoint) == (3, tmp_path / "stopped" / "checkpoint-000003")
    assert signal.getsignal(signal.SIGINT) is before, "train() must restore the handler it found"
    resumed = train(_model(dropout=0.1), replace(cfg, resume=True), IDS[:1500], IDS[1500:])
    whole = train(_model(dropout=0.1), replace(cfg, out_dir=str(tmp_path / "whole")), IDS[:1500], IDS[1500:])
    timeless = lambda row: {k: v for k, v in row.items() if k != "tokens_per_sec"}  # noqa: E731
    for a, b in zip(whole, resumed, strict=True):
        assert timeless(a) == timeless(b), f"step {a['step']}: never stopped {a}, stopped and resumed {b}"
