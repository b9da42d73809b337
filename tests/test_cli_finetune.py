"""`python -m gpt2_lib finetune` and `generate --instruction`: a run saves a loadable model; bad data is one error line."""

from __future__ import annotations

import json

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
