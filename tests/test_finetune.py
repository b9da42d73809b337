"""gpt2_lib.finetune: the template, record checks, the fixed split, padding and prompt masking, batches, scores."""

from __future__ import annotations

import math

import pytest
import torch

from gpt2_lib.finetune import (EOT, InstructionBatches, InstructionDataset, check_records, collate, exact_match,
                               format_prompt, generate_response, record_batches, rouge_l, score_answers, split_records)
from gpt2_lib.model import GPT, GPTConfig
from gpt2_lib.train import evaluate

RECORDS = [{"instruction": f"Repeat the number {i}.", "input": "" if i % 2 else f"{i}", "output": f"The number {i}."}
           for i in range(40)]


@pytest.fixture(scope="module")
def dataset():
    return InstructionDataset(RECORDS[:6])


def test_template_is_alpaca_with_optional_input():
    with_input = format_prompt({"instruction": "Fix it.", "input": "He go.", "output": "He goes."})
    assert with_input == ("Below is an instruction that describes a task. Write a response that appropriately "
                          "completes the request.\n\n### Instruction:\nFix it.\n\n### Input:\nHe go.\n\n### Response:\n")
    assert "### Input" not in format_prompt({"instruction": "Fix it.", "input": ""})


def test_malformed_records_are_reported_by_index_not_dropped():
    bad = [RECORDS[0], {"instruction": "x", "output": "y"}, RECORDS[1], {"instruction": "x", "input": 3, "output": "y"},
           "text"]
    with pytest.raises(ValueError) as e:
        check_records(bad)
    msg = str(e.value)
    assert "3 malformed record(s) of 5" in msg, msg
    assert "record 1: missing 'input'" in msg and "record 3: 'input' is int, not str" in msg and "record 4:" in msg
    with pytest.raises(ValueError, match="JSON list"):
        check_records({"instruction": "x"})


def test_split_is_fixed_85_5_10_in_file_order():
    records = [{"instruction": str(i), "input": "", "output": ""} for i in range(1100)]
    train, val, test = split_records(records)
    assert (len(train), len(val), len(test)) == (935, 55, 110)
    assert train[0]["instruction"] == "0" and test[0]["instruction"] == "935" and val[0]["instruction"] == "1045"


def test_dataset_keeps_the_prompt_boundary_and_ends_with_endoftext(dataset):
    from gpt2_lib.tokenizer import get_tokenizer

    tok = get_tokenizer()
    ids, n_prompt = dataset[0]
    assert tok.decode(ids[:n_prompt]) == format_prompt(RECORDS[0])
    assert tok.decode(ids[n_prompt:-1]) == RECORDS[0]["output"] and ids[-1] == EOT


def test_collate_pads_and_masks_padding_keeping_the_first_endoftext():
    x, y = collate([([1, 2, 3, 4, EOT], 2), ([1, 2, 5, EOT], 2)], mask_prompt=False)
    assert x.tolist() == [[1, 2, 3, 4], [1, 2, 5, EOT]]
    assert y.tolist() == [[2, 3, 4, EOT], [2, 5, EOT, -100]]


def test_collate_masks_prompt_targets_only_when_asked():
    x, y = collate([([1, 2, 3, 4, EOT], 3)], mask_prompt=True)
    assert y.tolist() == [[-100, -100, 4, EOT]], "targets that are prompt tokens must be -100, the response scored"
    _, y = collate([([1, 2, 3, 4, EOT], 3)], mask_prompt=True, ignore_index=-1, pad_token_id=0)
    assert y.tolist() == [[-1, -1, 4, EOT]]


def test_collate_crops_to_max_length():
    x, y = collate([(list(range(10)), 2), ([1, 2, 3], 1)], max_length=4, mask_prompt=False)
    assert x.shape == y.shape == (2, 4)
    assert x[0].tolist() == [0, 1, 2, 3] and y[0].tolist() == [1, 2, 3, 4]


def test_masked_loss_equals_loss_over_response_tokens_only(dataset):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50257, block_size=128, n_layer=1, n_head=2, n_embd=16)).eval()
    x, y = collate([dataset[0], dataset[1]], mask_prompt=True)
    with torch.no_grad():
        _, loss = model(x, y)
        logits, _ = model(x)
    terms = [torch.nn.functional.cross_entropy(logits[r, t], y[r, t]) for r in range(2) for t in range(x.shape[1])
             if y[r, t] != -100]
    assert math.isclose(loss.item(), torch.stack(terms).mean().item(), rel_tol=1e-5)
    assert math.isclose(evaluate(model, [(x, y)]), loss.item(), rel_tol=1e-5)


def test_batches_cover_each_record_once_per_epoch_and_resume(dataset):
    b = InstructionBatches(dataset, 2, seed=3, mask_prompt=False)
    unpadded = lambda row: tuple(row[: len(row) - (row.flip(0) != EOT).int().argmax()].tolist())  # noqa: E731
    seen = sorted(unpadded(row) for _ in range(3) for row in b.next_batch()[0])
    assert seen == sorted(tuple(dataset[i][0][:-1]) for i in range(6)), "one epoch must draw each record once"
    assert b.steps_per_epoch() == 3 and b.state_dict() == {"epoch": 0, "pos": 6}
    state = b.state_dict()
    nxt = b.next_batch()
    again = InstructionBatches(dataset, 2, seed=3, mask_prompt=False)
    again.load_state_dict(state)
    assert all(torch.equal(a, c) for a, c in zip(nxt, again.next_batch())), "a resumed source must draw the same batch"
    assert b.state_dict()["epoch"] == 1


def test_training_with_train_lowers_the_evaluate(dataset):
    from gpt2_lib.train import TrainConfig, train

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50257, block_size=128, n_layer=1, n_head=2, n_embd=32))
    val = record_batches(dataset, 3)
    before = evaluate(model, val)
    cfg = TrainConfig(max_steps=12, batch_size=3, block_size=128, learning_rate=3e-3, min_lr=3e-3, eval_every=6,
                      device="cpu", progress=False)
    history = train(model, cfg, InstructionBatches(dataset, 3, seed=0), val)
    assert evaluate(model, val) < before - 0.5, "fine-tuning on the same records must lower their loss"
    assert [r["step"] for r in history if "val_loss" in r] == [0, 6, 12]


def test_generate_response_stops_at_endoftext_and_strips(monkeypatch):
    import gpt2_lib.generate
    from gpt2_lib.tokenizer import get_tokenizer

    tok = get_tokenizer()
    answer_ids = tok.encode("  Paris. \n") + [EOT] + tok.encode(" and more after the end")

    def generate(model, idx, max_new_tokens, **kwargs):  # the model "says" the answer, <|endoftext|>, then more
        return torch.cat([idx, torch.tensor([answer_ids[:max_new_tokens]])], dim=1)

    monkeypatch.setattr(gpt2_lib.generate, "generate", generate)
    model = GPT(GPTConfig(vocab_size=50257, block_size=128, n_layer=1, n_head=2, n_embd=16))
    answer = generate_response(model, RECORDS[0], max_new_tokens=20)
    assert answer == "Paris.", f"expected the text before <|endoftext|>, stripped; got {answer!r}"


def test_scores():
    assert exact_match(" Paris. ", "paris.") and not exact_match("Paris", "Rome")
    assert rouge_l("a b c d", "a b c d") == 1.0 and rouge_l("x", "a b") == 0.0
    assert 0 < rouge_l("the cat sat", "the cat sat on the mat") < 1
    s = score_answers(["Paris.", "a b"], ["paris.", "a c"])
    assert s["exact_match"] == 0.5 and 0.5 < s["rouge_l"] < 1
    with pytest.raises(ValueError):
        score_answers(["a"], [])


def test_a_batch_with_no_scored_target_is_an_error_not_a_nan_loss():
    # prompts of 9 and 6 tokens, cropped to 4: every target is a prompt token or padding
    with pytest.raises(ValueError, match="no target of this batch is scored"):
        collate([(list(range(12)), 9), ([1, 2, 3, 4, 5, 6, 7, EOT], 6)], max_length=4, mask_prompt=True)
    x, y = collate([(list(range(12)), 9), ([1, 2, 3, 4, EOT], 4)], max_length=4, mask_prompt=True)
    assert (y != -100).sum() == 1, "a prompt of exactly max_length tokens still scores its first response token"


def test_drop_unscored_removes_and_counts_the_records_whose_prompt_fills_max_length(dataset):
    data = InstructionDataset(RECORDS[:6])
    prompts = [n for _, n in data]
    limit = sorted(prompts)[2]  # keeps the three shortest prompts (and any as long as the third)
    dropped = data.drop_unscored(limit)
    assert dropped == sum(n > limit for n in prompts) and len(data) == len(prompts) - dropped
    assert len(data.records) == len(data) and all(n <= limit for _, n in data)
    x, y = collate(list(data), max_length=limit)
    assert ((y != -100).sum(1) >= 1).all(), "every kept record must score at least one token"
