"""Chapter 5's GPT is GPT-2: its size, its errors, and logits equal to transformers' on the same weights."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from gpt2_lib.model import GPT, GPTConfig

SMALL = GPTConfig(vocab_size=300, block_size=64, n_layer=3, n_head=4, n_embd=32)


def hf_twin(model: GPT) -> GPT2LMHeadModel:
    """A transformers GPT-2 of the same shape holding the same weights, mapped by the test itself."""
    c = model.config
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=c.vocab_size, n_positions=c.block_size, n_embd=c.n_embd,
                                    n_layer=c.n_layer, n_head=c.n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
    conv1d = ("c_attn.weight", "c_proj.weight", "c_fc.weight")  # HF stores these (in, out); nn.Linear (out, in)
    sd = {k: (v.t() if k.endswith(conv1d) else v) for k, v in model.state_dict().items()}
    hf.load_state_dict(sd, strict=True)
    return hf.eval()


@pytest.fixture(scope="module")
def gpt2_124m() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig.from_name("gpt2")).eval()


def test_gpt2_has_exactly_124_439_808_parameters(gpt2_124m):
    assert gpt2_124m.num_params() == 124_439_808


def test_head_is_tied_to_the_token_embedding(gpt2_124m):
    assert gpt2_124m.lm_head.weight is gpt2_124m.transformer.wte.weight


@pytest.mark.parametrize("name, layers, heads, width", [("gpt2", 12, 12, 768), ("gpt2-medium", 24, 16, 1024),
                                                        ("gpt2-large", 36, 20, 1280), ("gpt2-xl", 48, 25, 1600)])
def test_presets_have_openais_sizes(name, layers, heads, width):
    c = GPTConfig.from_name(name)
    assert (c.n_layer, c.n_head, c.n_embd, c.vocab_size, c.block_size) == (layers, heads, width, 50257, 1024)


def test_tiny_preset_is_small_enough_for_a_cpu():
    n = GPT(GPTConfig.from_name("tiny")).num_params()
    assert n < 10_000_000, f"the tiny preset has {n:,} parameters: too many to train on a CPU in minutes"


@pytest.mark.parametrize("kwargs, match", [
    ({"n_embd": 768, "n_head": 10}, "n_embd=768 does not split into n_head=10"),
    ({"n_layer": 0}, "n_layer must be a positive integer"),
    ({"dropout": 1.0}, "dropout must be in"),
])
def test_impossible_configs_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GPTConfig(**kwargs)


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="gpt2-medium"):
        GPTConfig.from_name("gpt3")


def test_logits_equal_transformers_on_several_prompts():
    torch.manual_seed(1)
    model = GPT(SMALL).eval()
    hf = hf_twin(model)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for B, T in [(1, 1), (2, 7), (3, 64)]:
            idx = torch.randint(0, SMALL.vocab_size, (B, T), generator=gen)
            diff = (model(idx)[0] - hf(idx).logits).abs().max().item()
            assert diff < 1e-5, f"B={B} T={T}: max |Δlogit| = {diff}"


def test_gpt2_124m_logits_equal_transformers_over_the_full_context(gpt2_124m):
    hf = hf_twin(gpt2_124m)
    idx = torch.randint(0, 50257, (1, 1024), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = (gpt2_124m(idx)[0] - hf(idx).logits).abs().max().item()
    assert diff < 1e-4, f"max |Δlogit| = {diff} over a 1024-token context"


def test_hf_state_dict_round_trip_is_exact():
    torch.manual_seed(2)
    model = GPT(SMALL)
    back = GPT.from_hf_state_dict(model.to_hf_state_dict(), SMALL)
    for (name, a), b in zip(model.state_dict().items(), back.state_dict().values()):
        assert torch.equal(a, b), name
    hf = hf_twin(model)
    again = GPT.from_hf_state_dict(hf.state_dict(), SMALL)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_a_wrong_shape_names_the_tensor_and_both_shapes():
    sd = GPT(SMALL).to_hf_state_dict()
    sd["transformer.h.1.mlp.c_fc.weight"] = torch.zeros(128, 32)  # the (out, in) layout, not HF's (in, out)
    with pytest.raises(ValueError, match=r"transformer\.h\.1\.mlp\.c_fc\.weight.*\(32, 128\).*\(128, 32\)"):
        GPT.from_hf_state_dict(sd, SMALL)


def test_missing_and_unexpected_tensors_are_listed():
    sd = GPT(SMALL).to_hf_state_dict()
    del sd["transformer.ln_f.bias"]
    sd["transformer.h.9.attn.c_attn.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing \['transformer\.ln_f\.bias'\].*unexpected \['transformer\.h\.9"):
        GPT.from_hf_state_dict(sd, SMALL)


def test_loss_at_initialisation_is_about_ln_vocab(gpt2_124m):
    idx = torch.randint(0, 50257, (2, 33), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _, loss = gpt2_124m(idx[:, :-1], idx[:, 1:])
    assert abs(loss.item() - math.log(50257)) < 0.3, loss.item()


def test_targets_of_minus_100_are_ignored():
    torch.manual_seed(3)
    model = GPT(SMALL).eval()
    idx = torch.randint(0, SMALL.vocab_size, (2, 9))
    targets = idx[:, 1:].clone()
    targets[:, :4] = -100
    with torch.no_grad():
        logits, loss = model(idx[:, :-1], targets)
        expected = torch.nn.functional.cross_entropy(logits[:, 4:].reshape(-1, SMALL.vocab_size), targets[:, 4:].reshape(-1))
    assert torch.allclose(loss, expected)


@pytest.mark.parametrize("idx, match", [
    (torch.zeros(1, 4), "integer token ids"),
    (torch.zeros(4, dtype=torch.long), r"shape \(batch, time\)"),
    (torch.zeros(1, 65, dtype=torch.long), "sequence length 65 exceeds block_size 64"),
    (torch.tensor([[1, 300]]), r"token ids must be in \[0, 299\]"),
    (torch.tensor([[-1, 2]]), r"token ids must be in \[0, 299\]"),
])
def test_bad_input_is_a_clear_error(idx, match):
    with pytest.raises(ValueError, match=match):
        GPT(SMALL)(idx)


def test_residual_projections_get_the_scaled_initialisation():
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=8, n_head=4, n_embd=256, vocab_size=100, block_size=32))
    std = model.transformer.h[0].mlp.c_proj.weight.std().item()
    assert abs(std - 0.02 / math.sqrt(16)) < 0.001
    assert abs(model.transformer.h[0].mlp.c_fc.weight.std().item() - 0.02) < 0.001


def test_optimizer_decays_matrices_only():
    model = GPT(SMALL)
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=1e-3)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and all(p.dim() == 2 for p in decay["params"])
    assert no_decay["weight_decay"] == 0.0 and all(p.dim() == 1 for p in no_decay["params"])
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == model.num_params()


def test_gpt_alone_has_its_loaders_and_savers():
    """`from gpt2_lib.model import GPT` in a fresh interpreter: the class is whole without importing chapter 7."""
    import subprocess
    import sys

    names = ("from_pretrained", "from_openai", "load_pretrained", "save_pretrained", "to_hf_state_dict",
             "from_hf_state_dict", "configure_optimizers")
    code = (f"import sys\nfrom gpt2_lib.model import GPT\nprint([n for n in {names!r} if not hasattr(GPT, n)])\n"
            "print('gpt2_lib.pretrained' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]", f"GPT lacks {out[0]} until another module is imported"
    assert out[1] == "False", "importing gpt2_lib.model imported gpt2_lib.pretrained"


def test_no_module_assigns_attributes_onto_gpt():
    import ast
    from pathlib import Path

    found = []
    for path in sorted((Path(__file__).resolve().parent.parent / "gpt2_lib").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            found += [f"{path.name}:{node.lineno}: GPT.{t.attr}" for t in targets
                      if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "GPT"]
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr" and node.args \
                    and isinstance(node.args[0], ast.Name) and node.args[0].id == "GPT":
                found.append(f"{path.name}:{node.lineno}: setattr(GPT, ...)")
    assert not found, f"GPT's methods belong in its class, not assigned from outside: {found}"


def test_forward_returns_logits_and_a_loss_or_none():
    torch.manual_seed(0)
    model, idx = GPT(SMALL).eval(), torch.randint(0, 300, (2, 9))
    logits, loss = model(idx)
    assert logits.shape == (2, 9, 300) and loss is None, f"without targets: {tuple(logits.shape)}, {loss}"
    logits_t, loss = model(idx, idx)
    assert torch.equal(logits, logits_t) and loss.dim() == 0, "with targets: the same logits and a scalar loss"


def test_forward_reads_no_token_values_off_the_cpu():
    """The id-range check reads values: free on the CPU, a host sync on a GPU, so it runs on the CPU only.

    A meta tensor has no values at all: reading one raises, so forward must not try."""
    with torch.device("meta"):
        model = GPT(SMALL)
        logits, _ = model(torch.zeros(2, 9, dtype=torch.long))
    assert logits.shape == (2, 9, 300)
