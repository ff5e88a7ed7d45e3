"""Block caches (`cache: prefix | dual`) against re-statements of Fast-dLLM's loops, and their bad input.

Models: a tiny float64 LLaDA (the native class, random weights; its head never predicts the mask) and the toy.
"""
from __future__ import annotations

import pytest
import torch

from mdlm_eval import decode
from mdlm_eval.decoding.reference import fast_dllm_cached_generate
from mdlm_eval.errors import UsageError
from mdlm_eval.models import load_model
from mdlm_eval.models.llada import LladaConfig, LladaModelLM

from .tiny import TinyMDLM

VOCAB, MASK, EOS = 48, 47, 1


def tiny_llada(seed: int = 0) -> LladaModelLM:
    config = LladaConfig(d_model=32, n_heads=2, n_layers=2, mlp_hidden_size=64, vocab_size=VOCAB, embedding_size=VOCAB,
                         include_bias=True, mask_token_id=MASK, eos_token_id=EOS, pad_token_id=EOS)
    torch.manual_seed(seed)
    model = LladaModelLM(config).to(torch.float64).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name and "ln_f" not in name:
                p.normal_(0, 0.4)
        model.model.transformer.ff_out.bias[MASK] = -1e4  # a mask predictor never predicts the mask
    return model


@pytest.fixture(scope="module", params=["llada", "toy"])
def setup(request):
    if request.param == "llada":
        return tiny_llada(), MASK, EOS, 2
    toy = load_model("toy", dtype="float64")
    return toy.model, toy.ids.mask_id, toy.ids.eos_id, 1  # model, mask id, EOS id, prompts per case


def prompt(n: int, seed: int, high: int = 40) -> torch.Tensor:
    return torch.randint(3, high, (1, n), generator=torch.Generator().manual_seed(seed))


THRESHOLD = "threshold"  # the preset: Fast-dLLM's tau 0.9, blocks of 32 (overridden to 8 here)

CASES = [  # (preset, decode overrides, reference keyword arguments)
    ("semi_ar", {"steps": "half", "block_length": 8}, {"steps": 16, "block_length": 8}),
    ("semi_ar", {"steps": "full", "block_length": 16}, {"steps": 32, "block_length": 16}),
    (THRESHOLD, {"block_length": 8}, {"steps": 32, "block_length": 8, "threshold": 0.9}),
    (THRESHOLD, {"block_length": 8, "threshold": 0.5}, {"steps": 32, "block_length": 8, "threshold": 0.5}),
]


@pytest.mark.parametrize("cache", ["none", "prefix", "dual"])
@pytest.mark.parametrize("preset, ours, ref", CASES, ids=["semi_ar-half", "semi_ar-full", "tau0.9", "tau0.5"])
def test_cached_decode_matches_fast_dllm(setup, cache, preset, ours, ref):
    model, mask, eos, prompts = setup
    for seed in range(prompts):
        x = prompt(6 + seed, seed)
        expected, nfe = fast_dllm_cached_generate(model, x, gen_length=32, mask_id=mask, cache=cache, **ref)
        out = decode(model, x, preset, gen_length=32, mask_id=mask, eos_token_ids=[eos], cache=cache, **ours)
        assert torch.equal(out.sequences, expected) and out.nfe == nfe


def test_the_caches_change_the_decode(setup):
    """Not a tautology: on these models the cached decodes differ from the uncached one somewhere."""
    model, mask, eos, _ = setup
    outs = {c: [decode(model, prompt(6, s), THRESHOLD, gen_length=32, mask_id=mask, eos_token_ids=[eos], cache=c,
                       block_length=8, threshold=0.5).sequences for s in range(4)] for c in ("none", "prefix", "dual")}
    assert any(not torch.equal(a, b) for a, b in zip(outs["none"], outs["dual"]))


@pytest.mark.parametrize("cache", ["prefix", "dual"])
@pytest.mark.parametrize("preset, ours", [(THRESHOLD, {"block_length": 8, "threshold": 0.5}),
                                          ("semi_ar", {"steps": "half", "block_length": 8})])
def test_each_left_padded_row_decodes_as_alone(setup, cache, preset, ours):
    model, mask, eos, _ = setup
    rows = [prompt(n, seed) for seed, n in enumerate((4, 9, 6))]
    width = max(r.shape[1] for r in rows)
    ids = torch.full((len(rows), width), eos, dtype=torch.long)
    attention = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, width - r.shape[1]:], attention[i, width - r.shape[1]:] = r[0], 1
    batch = decode(model, ids, preset, gen_length=32, mask_id=mask, eos_token_ids=[eos], attention_mask=attention,
                   cache=cache, **ours)
    for i, r in enumerate(rows):
        alone = decode(model, r, preset, gen_length=32, mask_id=mask, eos_token_ids=[eos], cache=cache, **ours)
        assert torch.equal(batch.sequences[i, width - r.shape[1]:], alone.sequences[0])


def test_a_model_without_cache_support_is_refused():
    with pytest.raises(UsageError, match="cache=prefix needs a model with block-cache support.*TinyMDLM"):
        decode(TinyMDLM(), prompt(4, 0, 40), THRESHOLD, gen_length=32, block_length=8, mask_id=47, eos_token_ids=[1],
               cache="prefix")


def test_bad_cache_settings_are_refused_before_any_forward():
    model = tiny_llada()
    calls = []
    model.register_forward_hook(lambda *a: calls.append(1))
    x = prompt(4, 0)
    with pytest.raises(UsageError, match="cache 'full' is unknown; choose one of none, prefix, dual"):
        decode(model, x, "semi_ar", gen_length=32, mask_id=MASK, eos_token_ids=[EOS], cache="full")
    with pytest.raises(UsageError, match="classifier-free guidance"):
        decode(model, x, "semi_ar", gen_length=32, mask_id=MASK, eos_token_ids=[EOS], cache="dual", cfg_scale=1.0)
    assert not calls


def test_dual_is_refused_for_a_rule_that_changes_tokens_outside_the_block(monkeypatch):
    from mdlm_eval.decoding.commit import ThresholdRule

    monkeypatch.setattr(ThresholdRule, "commits_outside_block", True, raising=False)
    with pytest.raises(UsageError, match="cache=dual caches everything outside the current block, but commit rule "
                                         "threshold"):
        decode(tiny_llada(), prompt(4, 0), THRESHOLD, gen_length=32, block_length=8, mask_id=MASK, eos_token_ids=[EOS], cache="dual")


def test_a_rule_with_its_own_forward_takes_no_cache():
    with pytest.raises(UsageError, match="commit wino runs its own forward pass, which takes no cache"):
        decode(tiny_llada(), prompt(4, 0), "wino", gen_length=32, mask_id=MASK, eos_token_ids=[EOS], cache="prefix")
