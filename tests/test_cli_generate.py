"""`python -m gpt2_lib generate`: streams the same text as the library, and bad input is one clean error line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from gpt2_lib.__main__ import main
from gpt2_lib.generate import generate
from gpt2_lib.model import GPT, GPTConfig
from gpt2_lib.pretrained import save_pretrained
from gpt2_lib.tokenizer import get_tokenizer

PROMPT = "The quick brown fox"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small random model with GPT-2's vocabulary, saved as save_pretrained writes it."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50257, block_size=64, n_layer=2, n_head=2, n_embd=32))
    folder = tmp_path_factory.mktemp("ckpt")
    save_pretrained(model, folder)
    return folder, model.eval()


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["generate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_greedy_output_is_prompt_plus_what_generate_returns(checkpoint, capsys):
    folder, model = checkpoint
    code, out, err = run_cli(capsys, "--checkpoint", str(folder), "--prompt", PROMPT, "--max-new-tokens", "20",
                             "--temperature", "0", "--device", "cpu")
    assert code == 0, err
    tok = get_tokenizer()
    ids = generate(model, torch.tensor([tok.encode(PROMPT)]), 20, temperature=0)[0].tolist()
    eot = tok.eot_token
    new = ids[len(tok.encode(PROMPT)):]
    new = new[: new.index(eot)] if eot in new else new
    expected = PROMPT + tok.decode_bytes(new).decode("utf-8", errors="replace") + "\n"
    assert out == expected


def test_same_seed_same_text_and_other_seed_other_text(checkpoint, capsys):
    folder, _ = checkpoint
    args = ("--checkpoint", str(folder), "--prompt", PROMPT, "--max-new-tokens", "30", "--device", "cpu")
    runs = [run_cli(capsys, *args, "--seed", seed)[1] for seed in ("1", "1", "2")]
    assert runs[0] == runs[1], "the same --seed gave different text"
    assert runs[0] != runs[2], "different seeds gave the same 30 sampled tokens"


@pytest.mark.parametrize("args, message", [
    (("--temperature", "-1"), "temperature"),
    (("--temperature", "nan"), "temperature"),
    (("--temperature", "inf"), "temperature"),
    (("--top-k", "0"), "top_k"),
    (("--top-p", "1.5"), "top_p"),
    (("--max-new-tokens", "100"), "block_size"),
])
def test_impossible_settings_are_one_error_line_with_nothing_printed_before_it(checkpoint, capsys, args, message):
    folder, _ = checkpoint
    code, out, err = run_cli(capsys, "--checkpoint", str(folder), "--prompt", PROMPT, "--device", "cpu", *args)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert out == "", f"stdout got {out!r} before the error"


def test_missing_checkpoint_is_one_line_without_a_traceback(tmp_path):
    missing = tmp_path / "no-such-model"
    proc = subprocess.run([sys.executable, "-m", "gpt2_lib", "generate", "--checkpoint", str(missing), "--prompt",
                           "Hi"], capture_output=True, text=True, timeout=120, env={**os.environ, "CI": "true"})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()], proc.stderr
    assert proc.stderr.startswith("error: no checkpoint folder at") and str(missing) in proc.stderr


def test_a_folder_of_pickles_is_refused_not_unpickled(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not read")
    code, _, err = run_cli(capsys, "--checkpoint", str(tmp_path), "--prompt", PROMPT)
    assert code == 2 and "safetensors" in err and "pickle" in err


def test_a_prompt_that_fills_the_context_gets_advice_the_cli_accepts(checkpoint, capsys):
    folder, _ = checkpoint
    long_prompt = " hello" * 70  # 70 tokens, more than the 64 of this model's context
    code, out, err = run_cli(capsys, "--checkpoint", str(folder), "--prompt", long_prompt, "--max-new-tokens", "4",
                             "--device", "cpu")
    assert code == 2 and out == ""
    assert "at most 0 new tokens" not in err and "shorten it to at most 60" in err, err


def test_a_typed_end_of_text_is_the_special_token(checkpoint, capsys):
    folder, model = checkpoint
    prompt = "Hello <|endoftext|> world"
    code, out, err = run_cli(capsys, "--checkpoint", str(folder), "--prompt", prompt, "--max-new-tokens", "5",
                             "--temperature", "0", "--device", "cpu")
    assert code == 0, err
    assert "allowed_special" not in err
    tok = get_tokenizer()
    ids = tok.encode(prompt, allowed_special="all")
    assert 50256 in ids
    new = generate(model, torch.tensor([ids]), 5, temperature=0)[0, len(ids):].tolist()
    new = new[: new.index(50256)] if 50256 in new else new
    assert out == prompt + tok.decode(new) + "\n", "the prompt should be encoded with <|endoftext|> as id 50256"


def test_the_help_says_what_a_typed_special_token_means(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    assert "<|endoftext|> is GPT-2's end-of-text token" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("damage, named", [
    (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:-50]),
     "model.safetensors"),
    (lambda d: (d / "config.json").write_text("[]"), "config.json"),
    (lambda d: (d / "config.json").write_text('{"n_layer": 2'), "config.json"),
])
def test_a_damaged_checkpoint_is_one_line_naming_the_file(checkpoint, tmp_path, capsys, damage, named):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(checkpoint[0], folder)
    damage(folder)
    code, out, err = run_cli(capsys, "--checkpoint", str(folder), "--prompt", PROMPT, "--device", "cpu")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and str(folder / named) in err, err


def test_a_data_folder_is_not_called_pickles_and_a_run_folder_names_its_checkpoint(checkpoint, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    data.mkdir()
    for name in ("train.bin", "val.bin", "meta.json"):
        (data / name).write_bytes(b"\x00\x00")
    code, _, err = run_cli(capsys, "--checkpoint", str(data), "--prompt", PROMPT)
    assert code == 2 and "pickle" not in err and "prepare" in err, err
    run = tmp_path / "run"
    shutil.copytree(checkpoint[0], run / "checkpoint-000040")
    code, _, err = run_cli(capsys, "--checkpoint", str(run), "--prompt", PROMPT)
    assert code == 2 and str(run / "checkpoint-000040") in err, err
