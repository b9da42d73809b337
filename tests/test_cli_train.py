"""`python -m gpt2_lib train` as a careless user or a crash meets it: nothing lost, one clear line, the right exit code."""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gpt2_lib.__main__ import main
from gpt2_lib.prepare import prepare
from gpt2_lib.train import read_metrics

ROOT = Path(__file__).resolve().parent.parent
TEXT = "".join(f"Row {i} of a small test corpus, with some words that repeat.\n" for i in range(150))
TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "2",
        "--eval-batches", "1", "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    (folder / "t.txt").write_text(TEXT)
    prepare([folder / "t.txt"], folder / "tokens", progress=False)
    return folder / "tokens"


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory) -> Path:
    """A run folder of 4 steps, finished: checkpoint-000004 and metrics.jsonl (copy it before changing it)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(["train", "--data", str(data), "--out", str(out), *TINY, "--max-steps", "4", "--eval-every", "2"]) == 0
    return out


def train(capsys, data: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["train", "--data", str(data), "--out", str(out), *TINY, *extra])
    stdout, stderr = capsys.readouterr()
    return code, stdout, stderr


def one_line(err: str) -> bool:
    return err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def copy_run(finished: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out


def start(data: Path, out: Path, *extra: str) -> tuple[subprocess.Popen, list[str]]:
    """A long `train` in a child process, and its arguments after `python -m gpt2_lib`."""
    argv = ["train", "--data", str(data), "--out", str(out), *TINY, "--max-steps", "100000", "--eval-every",
            "100000", *extra]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "gpt2_lib", *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True), argv


def wait_for_rows(proc: subprocess.Popen, metrics: Path, rows: int) -> None:
    deadline = time.time() + 120
    while not (metrics.is_file() and len(metrics.read_text().splitlines()) >= rows):
        assert proc.poll() is None, f"the run ended early: {proc.communicate()}"
        assert time.time() < deadline, f"no {rows} metrics rows within 2 minutes"
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_without_save_every_saves_the_step_and_prints_the_resume_command(data, tmp_path, capsys, signum):
    out = tmp_path / "run"
    proc, argv = start(data, out)
    wait_for_rows(proc, out / "metrics.jsonl", 4)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, f"exit code {proc.returncode}: {err}"
    step = max(r["step"] for r in read_metrics(out / "metrics.jsonl"))
    checkpoint = out / f"checkpoint-{step:06d}"
    assert (checkpoint / "trainer.json").is_file(), f"no checkpoint of the last step {step}: {sorted(os.listdir(out))}"
    assert f"step {step} is saved in {checkpoint}" in err, err
    resume = shlex.join(["python", "-m", "gpt2_lib", *argv, "--resume"])
    assert err.strip().splitlines()[-1] == resume, f"the last line should be the command to continue:\n{err}"

    argv[argv.index("--max-steps") + 1] = str(step + 2)  # continue, but only for two more steps
    code, _, err = train(capsys, data, out, *argv[5 + len(TINY):], "--resume")
    assert code == 0, err
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == list(range(step + 3)), \
        "the resumed run must continue the metrics, each step once"


def test_resume_with_nothing_to_resume_is_an_error_and_keeps_the_metrics(data, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 0, "val_loss": 4.5}\n')
    code, _, err = train(capsys, data, out, "--max-steps", "2", "--resume")
    assert code == 2 and one_line(err) and "nothing to resume" in err, err
    assert (out / "metrics.jsonl").read_text() == '{"step": 0, "val_loss": 4.5}\n', "metrics.jsonl was rewritten"


def test_a_second_run_into_the_same_folder_fails_at_once_and_the_metrics_do_not_mix(data, tmp_path, capsys):
    out = tmp_path / "run"
    proc, _ = start(data, out)
    try:
        wait_for_rows(proc, out / "metrics.jsonl", 3)
        t0 = time.perf_counter()
        code, _, err = train(capsys, data, out, "--max-steps", "5", "--eval-every", "1")
        seconds = time.perf_counter() - t0
        wait_for_rows(proc, out / "metrics.jsonl", 6)
    finally:
        proc.kill()
        proc.wait()
    assert code == 1 and one_line(err) and "another run is writing to" in err, err
    assert seconds < 10, f"the second run took {seconds:.0f} s to fail"
    steps = [r["step"] for r in read_metrics(out / "metrics.jsonl")]
    assert steps == list(range(len(steps))), f"metrics of two runs mixed: steps {steps}"
    assert all("val_loss" not in r for r in read_metrics(out / "metrics.jsonl")[1:]), "rows of the second run"


@pytest.mark.parametrize("change", [["--lr", "1e-2"], ["--warmup-steps", "1"], ["--weight-decay", "0"],
                                    ["--lr", "1e-2", "--weight-decay", "0"]])
def test_resume_with_another_lr_warmup_or_weight_decay_is_refused_naming_them(data, finished, tmp_path, capsys,
                                                                              change):
    out = copy_run(finished, tmp_path)
    before = (out / "metrics.jsonl").read_text()
    code, _, err = train(capsys, data, out, "--max-steps", "6", "--eval-every", "2", "--resume", *change)
    named = {"--lr": "learning_rate=", "--warmup-steps": "warmup_steps=", "--weight-decay": "weight_decay="}
    assert code == 2 and one_line(err), err
    assert all(named[flag] in err for flag in change[::2]), f"the line must name each changed setting: {err}"
    assert (out / "metrics.jsonl").read_text() == before


def test_resume_may_change_max_steps_and_eval_settings(data, finished, tmp_path, capsys):
    out = copy_run(finished, tmp_path)
    code, _, err = train(capsys, data, out, "--max-steps", "6", "--eval-every", "3", "--resume")
    assert code == 0, err
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == list(range(7))


@pytest.mark.parametrize("damage, problem", [
    (lambda p: p.write_text("{}"), "lacks step"),
    (lambda p: p.write_text(json.dumps({k: v for k, v in json.loads(p.read_text()).items() if k != "rng"})),
     "lacks rng"),
    (lambda p: p.write_text(p.read_text()[:-40]), "not valid JSON"),
    (lambda p: p.write_text("[1, 2]"), "lacks step"),
    (lambda p: (p.parent / "trainer.safetensors").write_bytes((p.parent / "trainer.safetensors").read_bytes()[:100]),
     "trainer.safetensors is damaged"),
])
def test_a_damaged_checkpoint_is_one_line_naming_the_file(data, finished, tmp_path, capsys, damage, problem):
    out = copy_run(finished, tmp_path)
    damage(out / "checkpoint-000004" / "trainer.json")
    code, _, err = train(capsys, data, out, "--max-steps", "6", "--eval-every", "2", "--resume")
    assert code == 2 and one_line(err), err
    assert problem in err and str(out / "checkpoint-000004") in err, err


@pytest.mark.parametrize("failing_write", [1, 2])  # model.safetensors, then trainer.safetensors
def test_a_full_disk_while_saving_is_one_line_and_leaves_no_tmp_folder(data, tmp_path, capsys, monkeypatch,
                                                                        failing_write):
    import safetensors.torch

    real, calls = safetensors.torch.save_file, []

    def save_file(*args, **kwargs):
        calls.append(1)
        if len(calls) == failing_write:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(safetensors.torch, "save_file", save_file)
    out = tmp_path / "run"
    code, _, err = train(capsys, data, out, "--max-steps", "2", "--eval-every", "2")
    assert code == 1 and one_line(err), err
    assert "could not write checkpoint-000002" in err and "No space left on device" in err, err
    assert not list(out.glob("checkpoint-*")), f"left behind: {sorted(os.listdir(out))}"


def test_checkpoints_get_the_file_modes_of_the_umask(finished):
    umask = os.umask(0)
    os.umask(umask)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (finished / "checkpoint-000004").iterdir()}
    assert modes == dict.fromkeys(modes, 0o666 & ~umask), f"umask {umask:03o}, but the files have {modes}"


@pytest.mark.parametrize("device, problem", [("cpu:7", "one cpu device"), ("meta", "cannot compute"),
                                             ("tpu", "unknown device")])
def test_a_device_that_cannot_train_is_refused_before_anything_is_built(data, tmp_path, capsys, device, problem):
    code, _, err = train(capsys, data, tmp_path / "run", "--max-steps", "2", "--device", device)
    assert code == 2 and one_line(err) and problem in err and repr(device) in err, err
    assert not (tmp_path / "run").exists()


def test_a_cuda_out_of_memory_is_one_line_with_a_hint(data, tmp_path, capsys, monkeypatch):
    import gpt2_lib.train

    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.\nmore details")

    monkeypatch.setattr(gpt2_lib.train, "train", oom)
    code, _, err = train(capsys, data, tmp_path / "run", "--max-steps", "2")
    assert code == 1 and "Traceback" not in err, err
    assert err.splitlines() == ["error: CUDA out of memory. Tried to allocate 2.00 GiB.",
                                "hint: lower --batch-size (and raise --grad-accum to keep the tokens per update) or "
                                "--block-size, or train a smaller --model"], err


def test_an_unexpected_error_keeps_its_traceback(data, tmp_path, monkeypatch):
    import gpt2_lib.train

    def bug(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(gpt2_lib.train, "train", bug)
    with pytest.raises(KeyError, match="a bug"):
        main(["train", "--data", str(data), "--out", str(tmp_path / "run"), *TINY, "--max-steps", "2"])


def test_a_value_error_from_outside_the_library_keeps_its_traceback(data, tmp_path, monkeypatch):
    import gpt2_lib.train

    def bug_below(*args, **kwargs):  # as a ValueError that torch or NumPy raise on a bug of ours would
        raise ValueError("a bug below the library")

    monkeypatch.setattr(gpt2_lib.train, "train", bug_below)
    with pytest.raises(ValueError, match="a bug below the library"):
        main(["train", "--data", str(data), "--out", str(tmp_path / "run"), *TINY, "--max-steps", "2"])


def test_a_reader_that_stops_early_gets_no_broken_pipe_noise(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT)
    proc = subprocess.Popen([sys.executable, "-m", "gpt2_lib", "prepare", "--input", str(tmp_path / "t.txt"), "--out",
                             str(tmp_path / "d"), "--no-progress"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # as `| head -0` does: nobody reads what it prints
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert "Broken pipe" not in err and "BrokenPipeError" not in err, err
    assert (tmp_path / "d" / "train.bin").is_file(), "the work itself must be done"
