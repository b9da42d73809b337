"""`python -m gpt2_lib finetune` and `generate --instruction`: a run saves a loadable model; bad data is one error line."""

from __future__ import annotations

import json
import math

import pytest
import torch

from gpt2_lib.__main__ import main
from gpt2_lib.finetune import format_prompt
from gpt2_lib.model import GPT, GPTConfig
from gpt2_lib.pretrained import load_pretrained, save_pretrained

RECORDS = [{"instruction": f"Say {i}.", "input": "", "output": f"{i}."} for i in range(24)]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A small random model with GPT-2's vocabulary, saved as save_pretrained writes it (the --init folder)."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("base")
    save_pretrained(GPT(GPTConfig(vocab_size=50257, block_size=96, n_layer=1, n_head=2, n_embd=16)), folder)
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "instructions.json"
    path.write_text(json.dumps(RECORDS))
    return path


def finetune(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["finetune", *args, "--device", "cpu", "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("lora", [False, True])
def test_finetune_saves_a_model_that_generate_instruction_loads(base, data, tmp_path, capsys, lora):
    out = tmp_path / "run"
    extra = ["--lora-rank", "4", "--lora-alpha", "8", "--lr", "1e-2"] if lora else ["--lr", "1e-3"]
    code, stdout, err = finetune(capsys, "--data", str(data), "--init", str(base), "--out", str(out),
                                 "--epochs", "1", "--batch-size", "4", "--eval-every", "2", *extra)
    assert code == 0, err
    summary = json.loads((out / "finetune.json").read_text())
    assert (summary["train"], summary["val"], summary["steps"]) == (20, 2, 5)
    assert summary["val_loss_after"] < summary["val_loss_before"], summary
    assert "val loss" in stdout
    assert (out / "adapter.safetensors").is_file() == lora
    if lora:
        assert (out / "adapter.safetensors").stat().st_size < (out / "model.safetensors").stat().st_size / 4
    model = load_pretrained(out)  # the merged model when LoRA: a plain GPT in save_pretrained's format
    assert isinstance(model, GPT)
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 6  # step 0 (eval) + 5 updates

    code = main(["generate", "--checkpoint", str(out), "--instruction", "Say 3.", "--max-new-tokens", "5",
                 "--temperature", "0", "--device", "cpu"])
    answer, err = capsys.readouterr()
    assert code == 0, err
    assert "### Response" not in answer, "generate --instruction prints only the answer, not the template"


def test_generate_instruction_matches_generate_response(base, capsys):
    from gpt2_lib.finetune import generate_response

    code = main(["generate", "--checkpoint", str(base), "--instruction", "Name a colour.", "--input", "red or blue",
                 "--max-new-tokens", "6", "--temperature", "0", "--device", "cpu"])
    answer, err = capsys.readouterr()
    assert code == 0, err
    expected = generate_response(load_pretrained(base), {"instruction": "Name a colour.", "input": "red or blue"},
                                 max_new_tokens=6)
    assert answer.strip() == expected, f"CLI printed {answer!r}, generate_response gave {expected!r}"


def test_prompt_and_instruction_are_exclusive(base, capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--checkpoint", str(base), "--prompt", "a", "--instruction", "b"])
    assert "not allowed with" in capsys.readouterr().err


def test_malformed_records_are_one_error_line_naming_them(base, tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(RECORDS[:5] + [{"instruction": "x", "output": 1}] + RECORDS[5:]))
    code, _, err = finetune(capsys, "--data", str(path), "--init", str(base), "--out", str(tmp_path / "o"))
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "record 5: missing 'input'" in err and "'output' is int" in err


@pytest.mark.parametrize("args, message", [
    (["--lora-rank", "-1"], "--lora-rank must be >= 0"),
    (["--init", "no-such-model"], "neither a release"),
])
def test_bad_settings_are_one_error_line(base, data, tmp_path, capsys, args, message):
    argv = ["--data", str(data), "--init", str(base), "--out", str(tmp_path / "o"), *args]
    code, _, err = finetune(capsys, *argv)
    assert code == 2 and message in err, err


def test_template_in_cli_is_the_library_template():
    assert format_prompt({"instruction": "A", "input": "B"}).endswith("### Input:\nB\n\n### Response:\n")


LONG = [{"instruction": "Say " + " ".join(["again"] * 40) + f" {i}.", "input": "", "output": f"{i}."} for i in range(24)]


def _refuse_to_load(monkeypatch):
    """Make loading the model fail loudly: a check that comes first must never get there."""
    import gpt2_lib.finetune_cli

    def load(*args, **kwargs):
        raise AssertionError("the model was loaded before the output folder was checked")

    monkeypatch.setattr(gpt2_lib.finetune_cli, "load_model", load)


def test_an_out_that_is_a_file_is_refused_before_loading(base, data, tmp_path, capsys, monkeypatch):
    _refuse_to_load(monkeypatch)
    (tmp_path / "o").write_text("notes")
    code, _, err = finetune(capsys, "--data", str(data), "--init", str(base), "--out", str(tmp_path / "o"))
    assert code == 2 and err.count("\n") == 1 and "is a file" in err, err
    assert (tmp_path / "o").read_text() == "notes"


def test_an_out_that_cannot_be_written_is_refused_before_loading(base, data, tmp_path, capsys, monkeypatch,
                                                                  read_only):
    _refuse_to_load(monkeypatch)
    folder = tmp_path / "read-only"
    folder.mkdir()
    read_only(folder)
    code, _, err = finetune(capsys, "--data", str(data), "--init", str(base), "--out", str(folder))
    folder.chmod(0o755)
    assert code == 2 and err.count("\n") == 1 and f"cannot write to {folder}" in err, err


def test_an_earlier_run_is_refused_before_training_and_left_as_it_was(base, data, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    code, _, err = finetune(capsys, "--data", str(data), "--init", str(base), "--out", str(out), "--epochs", "1",
                            "--batch-size", "4", "--lora-rank", "2")
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    _refuse_to_load(monkeypatch)
    code, _, err = finetune(capsys, "--data", str(data), "--init", str(base), "--out", str(out), "--epochs", "1",
                            "--batch-size", "4")  # a full fine-tune, which would leave the adapter file stale
    assert code == 2 and err.count("\n") == 1 and "already holds a fine-tuning run" in err, err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before, "the earlier run was changed"


def test_a_second_run_into_a_locked_folder_fails_at_once(base, data, tmp_path, capsys, monkeypatch):
    from filelock import FileLock

    _refuse_to_load(monkeypatch)
    (tmp_path / "o").mkdir()
    with FileLock(tmp_path / "o" / ".lock"):  # as another process's run holds it
        code, _, err = finetune(capsys, "--data", str(data), "--init", str(base), "--out", str(tmp_path / "o"))
    assert code == 1 and err.count("\n") == 1 and "another run is writing to" in err, err


@pytest.mark.parametrize("device", ["cpu:7", "meta"])
def test_a_device_that_cannot_train_is_refused_before_loading(base, data, tmp_path, capsys, monkeypatch, device):
    _refuse_to_load(monkeypatch)
    code = main(["finetune", "--data", str(data), "--init", str(base), "--out", str(tmp_path / "o"), "--device",
                 device, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and repr(device) in err, err


def test_records_whose_prompt_fills_max_length_are_skipped_and_counted(base, tmp_path, capsys):
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(LONG[:5] + RECORDS[5:]))  # 5 of the 20 training records have 60-token prompts
    out = tmp_path / "run"
    code, stdout, err = finetune(capsys, "--data", str(path), "--init", str(base), "--out", str(out), "--epochs", "1",
                                 "--batch-size", "4", "--max-length", "58", "--lr", "1e-3")
    assert code == 0, err
    assert "skipped 5 of 20 training and 0 of 2 validation records" in stdout, stdout
    summary = json.loads((out / "finetune.json").read_text())
    assert summary["skipped"] == 5 and summary["steps"] == 3, summary  # 15 records left: 3 batches of 4
    losses = [r.get("train_loss", r.get("val_loss")) for r in map(json.loads, (out / "metrics.jsonl").open())]
    assert all(map(math.isfinite, losses)), losses


def test_max_length_that_leaves_nothing_to_validate_is_refused_with_the_reason(base, tmp_path, capsys):
    path = tmp_path / "long.json"
    path.write_text(json.dumps(LONG))
    code, _, err = finetune(capsys, "--data", str(path), "--init", str(base), "--out", str(tmp_path / "run"),
                            "--max-length", "58")
    assert code == 2 and err.count("\n") == 1 and "fill --max-length 58" in err, err
