"""gpt2_lib.lora: adapters start as a no-op, train alone, save alone, and merge into a plain GPT with equal outputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from gpt2_lib.lora import LoRALinear, apply_lora, load_lora, lora_parameters, lora_state_dict, merge_lora, save_lora
from gpt2_lib.model import GPT, GPTConfig

CONFIG = GPTConfig(vocab_size=101, block_size=32, n_layer=2, n_head=2, n_embd=16)


def small_gpt(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(CONFIG).eval()


def ids(seed: int = 1) -> torch.Tensor:
    return torch.randint(0, CONFIG.vocab_size, (2, 12), generator=torch.Generator().manual_seed(seed))


def perturb(model: GPT) -> None:
    """Give every B a nonzero value, as training would, so the adapters change the output."""
    torch.manual_seed(7)
    with torch.no_grad():
        for p in lora_parameters(model):
            p.add_(torch.randn_like(p) * 0.05)


def test_wrapped_model_starts_identical_because_B_is_zero():
    base = small_gpt()
    x = ids()
    with torch.no_grad():
        expected, _ = base(x)
        lora = apply_lora(base, rank=4, alpha=8)
        got, _ = lora(x)
    assert all(torch.count_nonzero(m.lora_B) == 0 for m in lora.modules() if isinstance(m, LoRALinear))
    assert torch.equal(got, expected), f"outputs differ at init by {(got - expected).abs().max():.3e}"


def test_only_adapters_train_and_counts_match_the_formula():
    model = apply_lora(small_gpt(), rank=4, alpha=8)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable), f"non-adapter parameters train: {trainable}"
    C = CONFIG.n_embd
    per_block = 4 * ((C + 3 * C) + (C + C) + 2 * (C + 4 * C))  # c_attn, attn.c_proj, c_fc, mlp.c_proj
    assert sum(p.numel() for p in lora_parameters(model)) == CONFIG.n_layer * per_block
    assert model.lm_head.weight.requires_grad is False and not isinstance(model.lm_head, LoRALinear)


def test_targets_choose_the_wrapped_layers_and_unknown_names_fail():
    model = apply_lora(small_gpt(), targets=("c_attn",))
    wrapped = sorted(n for n, m in model.named_modules() if isinstance(m, LoRALinear))
    assert wrapped == ["transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"], wrapped
    with pytest.raises(ValueError, match="no linear layer named q_proj"):
        apply_lora(small_gpt(), targets=("q_proj",))
    with pytest.raises(ValueError, match="already has LoRA"):
        apply_lora(model)
    with pytest.raises(ValueError, match="rank must be a positive integer"):
        apply_lora(small_gpt(), rank=0)


def test_a_training_step_moves_adapters_and_leaves_base_weights_unchanged():
    model = apply_lora(small_gpt(), rank=4, alpha=8).train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    x = ids()
    for _ in range(2):  # B is zero at first, so A's gradient is zero on step one; two steps move both
        _, loss = model(x, x)
        loss.backward()
        opt.step()
        opt.zero_grad()
    for n, p in model.named_parameters():
        changed = not torch.equal(p, before[n])
        assert changed == ("lora_" in n), f"{n}: changed={changed}"


def test_merge_returns_plain_gpt_with_identical_outputs():
    model = apply_lora(small_gpt(), rank=4, alpha=8)
    perturb(model)
    merged = merge_lora(model)
    assert type(merged) is GPT and not any(isinstance(m, LoRALinear) for m in merged.modules())
    assert all(isinstance(b.attn.c_attn, nn.Linear) for b in merged.transformer.h)
    assert all(p.requires_grad for p in merged.parameters())
    assert merged.lm_head.weight is merged.transformer.wte.weight, "merging must keep the tied head"
    with torch.no_grad():
        diff = (merged(ids())[0] - model(ids())[0]).abs().max().item()
    assert diff < 1e-5, f"merged logits differ from the LoRA model's by {diff:.2e}"
    assert any(isinstance(m, LoRALinear) for m in model.modules()), "merge_lora must not change its input"


def test_effective_weight_property_matches_forward():
    layer = LoRALinear(nn.Linear(6, 5), rank=2, alpha=4)
    with torch.no_grad():
        layer.lora_B.normal_()
        x = torch.randn(3, 6)
        diff = (layer(x) - (x @ layer.weight.t() + layer.bias)).abs().max().item()
    assert diff < 1e-5, f"forward and W + (alpha/r) BA disagree by {diff:.2e}"


def test_cached_generation_uses_the_adapters():
    from gpt2_lib.generate import generate

    model = apply_lora(small_gpt(), rank=4, alpha=8)
    perturb(model)
    prompt = ids()[:1, :4]
    cached = generate(model, prompt, 8, temperature=0)
    uncached = generate(model, prompt, 8, temperature=0, use_cache=False)
    assert torch.equal(cached, uncached), "the KV-cache decoder must read the adapted weights"


def test_adapters_save_alone_and_load_onto_a_fresh_base(tmp_path):
    model = apply_lora(small_gpt(), rank=4, alpha=8)
    perturb(model)
    path = save_lora(model, tmp_path / "adapter.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        names = list(f.keys())
    assert names and all("lora_" in n for n in names), "the file must hold the adapters only"
    assert len(names) == len(lora_state_dict(model))
    loaded = load_lora(small_gpt(), path)
    with torch.no_grad():
        assert torch.equal(loaded(ids())[0], model(ids())[0])


def test_load_lora_rejects_a_different_model_size(tmp_path):
    path = save_lora(apply_lora(small_gpt(), rank=4), tmp_path / "a.safetensors")
    other = GPT(GPTConfig(vocab_size=101, block_size=32, n_layer=2, n_head=2, n_embd=32))
    with pytest.raises(ValueError, match="shape"):
        load_lora(other, path)


@pytest.mark.parametrize("mismatch", ["size", "layers"])
def test_a_failed_load_lora_hands_the_model_back_unwrapped(tmp_path, mismatch):
    if mismatch == "size":
        path = save_lora(apply_lora(small_gpt(), rank=4), tmp_path / "a.safetensors")
        model = GPT(GPTConfig(vocab_size=101, block_size=32, n_layer=2, n_head=2, n_embd=32))
    else:  # adapters of a 1-layer model: the second block's are missing
        path = save_lora(apply_lora(GPT(GPTConfig(vocab_size=101, block_size=32, n_layer=1, n_head=2, n_embd=16)),
                                    rank=4), tmp_path / "a.safetensors")
        model = small_gpt()
    model.transformer.wte.requires_grad_(False)  # a caller's own choice of what trains, to be kept
    trainable = {n: p.requires_grad for n, p in model.named_parameters()}
    with pytest.raises(ValueError):
        load_lora(model, path)
    assert not [n for n, m in model.named_modules() if isinstance(m, LoRALinear)], "LoRA layers left in the model"
    assert {n: p.requires_grad for n, p in model.named_parameters()} == trainable, "requires_grad was changed"
