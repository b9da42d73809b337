"""gpt2_lib.classify and `python -m gpt2_lib classify`: the head reads the last real token, freezing is exact, a few
steps learn a separable set, a saved classifier reloads exactly, and every bad input is one line and its exit code."""

from __future__ import annotations

import json
import os

import pytest
import torch

from gpt2_lib.__main__ import main
from gpt2_lib.classify import (GPTClassifier, accuracy, collate, freeze_for, load_classifier, passages, predict,
                               save_classifier, split_examples, train_classifier)
from gpt2_lib.model import GPT, GPTConfig
from gpt2_lib.pretrained import save_pretrained

CONFIG = GPTConfig(vocab_size=50257, block_size=64, n_layer=2, n_head=2, n_embd=16)


def tiny_classifier(n_classes: int = 2, seed: int = 0) -> GPTClassifier:
    torch.manual_seed(seed)
    return GPTClassifier(GPT(CONFIG), n_classes)


def toy_set(n: int = 32, seed: int = 0) -> list[tuple[list[int], int]]:
    """Class 0 uses token ids 100-109, class 1 ids 200-209, in rows of 3 to 8 tokens: separable by any token."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        label = i % 2
        length = int(torch.randint(3, 9, (1,), generator=g))
        out.append(((100 + 100 * label + torch.randint(0, 10, (length,), generator=g)).tolist(), label))
    return out


def test_head_reads_the_last_real_token_so_padding_changes_nothing():
    model = tiny_classifier().eval()
    rows = [([5, 6, 7, 8, 9, 10], 0), ([11, 12], 1), ([13, 14, 15], 0)]
    idx, lengths, labels = collate(rows)
    assert idx.shape == (3, 6) and lengths.tolist() == [6, 2, 3] and labels.tolist() == [0, 1, 0]
    with torch.no_grad():
        batched = model(idx, lengths)
        alone = torch.cat([model(torch.tensor([ids])) for ids, _ in rows])
        at_padded_end = model(idx)  # reading position T-1 for every row: the padding, for the short ones
    assert torch.allclose(batched, alone, atol=1e-6), f"padded batch {batched} differs from rows alone {alone}"
    assert not torch.allclose(at_padded_end[1], alone[1], atol=1e-4), "the test cannot tell last-real from last"


def test_freeze_for_leaves_exactly_the_intended_parameters_trainable():
    model = tiny_classifier()
    expected = {"head": {"head."}, "last": {"head.", "gpt.transformer.h.1.", "gpt.transformer.ln_f."},
                "all": {""}}
    for which, prefixes in expected.items():
        count = freeze_for(model, which)
        trainable = {name for name, p in model.named_parameters() if p.requires_grad}
        want = {name for name, _ in model.named_parameters() if any(name.startswith(p) for p in prefixes)}
        assert trainable == want, f"{which}: trainable {sorted(trainable ^ want)} differ from the intended set"
        assert count == sum(p.numel() for n, p in model.named_parameters() if n in want)
    assert freeze_for(model, "head") == 16 * 2 + 2
    with pytest.raises(ValueError, match="which must be"):
        freeze_for(model, "middle")


def test_a_few_steps_raise_accuracy_on_a_separable_toy_set():
    model = tiny_classifier()
    freeze_for(model, "all")
    train, val = toy_set(48, seed=1), toy_set(16, seed=2)
    before = accuracy(model, val)
    history = train_classifier(model, train, val, epochs=3, batch_size=8, lr=3e-3, seed=0)
    after = accuracy(model, val)
    assert after >= 0.9 and after > before, f"accuracy {before} -> {after}"
    assert history[-1] == {"epoch": 3, "step": 18, "val_accuracy": after}
    assert history[-2]["loss"] < history[0]["loss"]


def test_frozen_weights_do_not_move_in_training():
    model = tiny_classifier()
    freeze_for(model, "last")
    first_block = {k: v.clone() for k, v in model.gpt.transformer.h[0].state_dict().items()}
    train_classifier(model, toy_set(16), epochs=1, batch_size=8, lr=1e-2)
    for k, v in model.gpt.transformer.h[0].state_dict().items():
        assert torch.equal(v, first_block[k]), f"frozen h.0.{k} changed"


def test_save_load_round_trip_is_exact(tmp_path):
    model = tiny_classifier(n_classes=3).eval()
    folder = save_classifier(model, ["a", "b", "c"], tmp_path / "clf")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    loaded, labels = load_classifier(folder)
    assert labels == ["a", "b", "c"]
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), f"{k} differs after loading"
    rows = toy_set(6)
    assert torch.equal(predict(model, rows), predict(loaded, rows))


def test_passages_do_not_overlap_and_splits_are_balanced_and_disjoint():
    assert passages(list(range(10)), 4) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    by_class = [passages(list(range(1000)), 5), passages(list(range(5000, 5100)), 5)]
    train, val, test = split_examples(by_class, seed=0)
    for split in (train, val, test):
        counts = [sum(label == k for _, label in split) for k in (0, 1)]
        assert counts[0] == counts[1], f"unbalanced split {counts}"
    keys = [{tuple(ids) for ids, _ in s} for s in (train, val, test)]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2]), "a passage is in two splits"
    assert (len(train), len(val), len(test)) == (24, 8, 8)
    assert split_examples(by_class, seed=0) == (train, val, test), "the split is not reproducible"


# ---- the command line --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A small random model with GPT-2's vocabulary, saved as save_pretrained writes it (the --init folder)."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("base")
    save_pretrained(GPT(CONFIG), folder)
    return folder


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


RECORDS = [{"text": "apple banana cherry " * (1 + i % 3), "label": "fruit"} for i in range(10)] + \
          [{"text": "iron copper zinc " * (1 + i % 3), "label": "metal"} for i in range(10)]


def classify(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["classify", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_classify_train_then_predict(base, tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", RECORDS)
    out = tmp_path / "run"
    code, stdout, err = classify(capsys, "train", "--data", data, "--out", str(out), "--init", str(base),
                                 "--train", "all", "--epochs", "3", "--lr", "3e-3", "--batch-size", "4",
                                 "--device", "cpu")
    assert code == 0, err
    summary = json.loads((out / "classify.json").read_text())
    assert summary["labels"] == ["fruit", "metal"] and (summary["train_examples"], summary["val_examples"]) == (16, 4)
    assert summary["max_length"] == 64, "--max-length 256 is cropped to the model's context of 64 tokens"
    code, stdout, err = classify(capsys, "predict", "--model", str(out), "--text", "zinc iron", "--device", "cpu")
    assert code == 0, err
    row = json.loads(stdout)
    assert row["label"] in ("fruit", "metal") and 0.5 <= row["probability"] <= 1


def test_classify_reads_a_typed_end_of_text_as_text_and_predict_keeps_the_training_crop(base, tmp_path, capsys):
    rows = [{**r, "text": r["text"] + "<|endoftext|>"} for r in RECORDS]
    out = tmp_path / "run"
    code, _, err = classify(capsys, "train", "--data", write_jsonl(tmp_path / "d.jsonl", rows), "--out", str(out),
                            "--init", str(base), "--epochs", "1", "--max-length", "3", "--device", "cpu")
    assert code == 0, err
    assert json.loads((out / "classify.json").read_text())["max_length"] == 3
    long, short = "apple banana cherry " + "zinc " * 50, "apple banana cherry"
    code, stdout, err = classify(capsys, "predict", "--model", str(out), "--text", long, "--device", "cpu")
    code2, stdout2, _ = classify(capsys, "predict", "--model", str(out), "--text", short, "--device", "cpu")
    assert code == code2 == 0, err
    p_long, p_short = json.loads(stdout)["probability"], json.loads(stdout2)["probability"]
    assert p_long == p_short, "predict did not crop to the 3 tokens the classifier was trained on"


def test_classify_train_reads_csv(base, tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "".join(f"\"{r['text']}\",{r['label']}\n" for r in RECORDS))
    code, _, err = classify(capsys, "train", "--data", str(path), "--out", str(tmp_path / "run"), "--init",
                            str(base), "--epochs", "1", "--device", "cpu")
    assert code == 0, err


@pytest.mark.parametrize("case, expected", [
    ("existing run", "already holds a classifier"),
    ("out is a file", "is a file"),
    ("missing data", "not found"),
    ("bad label", "bad label"),
    ("one class", "two classes"),
    ("empty data", "holds no records"),
    ("not json", "not JSON"),
    ("bad device", "cpu:7"),
])
def test_classify_train_errors_are_one_line_with_exit_2_before_any_work(base, tmp_path, capsys, case, expected):
    data, out = tmp_path / "d.jsonl", tmp_path / "run"
    write_jsonl(data, RECORDS)
    device = "cpu"
    if case == "existing run":
        out.mkdir()
        (out / "model.safetensors").write_text("an earlier run")
    elif case == "out is a file":
        out.write_text("not a folder")
    elif case == "missing data":
        data = tmp_path / "absent.jsonl"
    elif case == "bad label":
        write_jsonl(data, RECORDS[:3] + [{"text": "no label here"}])
    elif case == "one class":
        write_jsonl(data, RECORDS[:10])
    elif case == "empty data":
        data.write_text("\n")
    elif case == "not json":
        data.write_text('{"text": "a", "label": "x"}\n{oops\n')
    elif case == "bad device":
        device = "cpu:7"
    code, stdout, err = classify(capsys, "train", "--data", str(data), "--out", str(out), "--init", str(base),
                                 "--device", device)
    assert code == 2, f"{case}: exit code {code}, stderr {err!r}"
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err, f"{case}: {err!r}"
    assert not stdout, f"{case}: work began before the error: {stdout!r}"
    if case != "existing run":
        assert not (out / "config.json").exists()


def test_classify_train_refuses_an_unwritable_folder(base, tmp_path, capsys, read_only):
    locked = tmp_path / "locked"
    locked.mkdir()
    read_only(locked)
    try:
        code, stdout, err = classify(capsys, "train", "--data", write_jsonl(tmp_path / "d.jsonl", RECORDS),
                                     "--out", str(locked / "run"), "--init", str(base), "--device", "cpu")
    finally:
        locked.chmod(0o700)
    assert code == 2 and "cannot write" in err and err.count("\n") == 1 and not stdout, err


def test_classify_predict_errors(tmp_path, capsys):
    code, _, err = classify(capsys, "predict", "--model", str(tmp_path / "nothing"), "--text", "hi", "--device", "cpu")
    assert code == 2 and "not found" in err and err.count("\n") == 1, err
    code, _, err = classify(capsys, "predict", "--model", str(tmp_path), "--text", "hi", "--device", "cpu:7")
    assert code == 2 and "cpu:7" in err and err.count("\n") == 1, err


def test_an_interrupted_classify_train_saves_nothing_and_the_folder_can_be_used_again(base, tmp_path, capsys,
                                                                                       monkeypatch):
    import gpt2_lib.classify_cli as classify_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    data, out = write_jsonl(tmp_path / "d.jsonl", RECORDS), tmp_path / "run"
    args = ("train", "--data", data, "--out", str(out), "--init", str(base), "--epochs", "1", "--device", "cpu")
    with monkeypatch.context() as m:
        m.setattr(classify_module, "train_classifier", interrupted)
        code, _, err = classify(capsys, *args)
    assert code == 130 and err == "interrupted\n", (code, err)
    assert not any((out / name).exists() for name in classify_module.OUTPUTS), "an interrupted run left outputs"
    code, _, err = classify(capsys, *args)  # the lock was released and nothing blocks a new run
    assert code == 0, err
