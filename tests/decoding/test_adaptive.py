"""The adaptive and Dream presets reproduce their references token for token, with the same forward passes per
row, alone and in left-padded batches (each row as it is alone)."""
import pytest
import torch

from mdlm_eval import decode
from mdlm_eval.decoding.reference import dream_generate, dynamic_generate, eb_generate, fast_dllm_generate, wino_generate
from mdlm_eval.errors import UsageError
from mdlm_eval.models.profiles import ShiftedLogits
from tests.decoding.test_exactness import left_padded, prompts
from tests.decoding.tiny import EOS, MASK, TinyMDLM

IDS = dict(mask_id=MASK, eos_token_ids=[EOS])
PADS = (0, 2, 4)  # left padding of the rows of `left_padded()`


@pytest.fixture(params=[0.0, 6.0], ids=["plain", "eos-heavy"])
def model(request):
    return TinyMDLM(seed=3, eos_bias=request.param)


def alone(model, ids, mask, row, preset, **kw):
    """Row `row` of a left-padded batch, decoded alone without its padding."""
    return decode(model, ids[row: row + 1, PADS[row]:], preset, **IDS, **kw)


def check_batch_invariance(model, preset, **kw):
    ids, mask = left_padded()
    batched = decode(model, ids, preset, attention_mask=mask, **IDS, **kw)
    for row in range(3):
        out = alone(model, ids, mask, row, preset, **kw)
        assert torch.equal(batched.sequences[row, PADS[row]:], out.sequences[0])
        assert batched.nfe_per_row[row] == out.nfe_per_row[0] == out.nfe
    assert max(batched.nfe_per_row) <= batched.nfe <= sum(batched.nfe_per_row)
    return batched


FAST_DLLM_CASES = [
    ("threshold", dict(), dict(threshold=0.9)),
    ("threshold", dict(threshold=0.3), dict(threshold=0.3)),
    ("threshold", dict(threshold=0.6, block_length=8), dict(threshold=0.6, block_length=8)),
    ("factor", dict(), dict(factor=1.0)),
    ("factor", dict(factor=2.5, block_length=16), dict(factor=2.5, block_length=16)),
    ("factor", dict(factor=0.4, block_length=8), dict(factor=0.4, block_length=8)),
]


@pytest.mark.parametrize("preset,ours,ref", FAST_DLLM_CASES)
def test_fast_dllm_rules_match_reference(model, preset, ours, ref):
    ref = {"block_length": 32, **ref}
    ids, mask = left_padded()
    expected, _ = fast_dllm_generate(model, ids, attention_mask=mask, gen_length=32, mask_id=MASK, **ref)
    batched = check_batch_invariance(model, preset, gen_length=32, **ours)
    assert torch.equal(batched.sequences, expected)
    for row in range(3):
        one, nfe = fast_dllm_generate(model, ids[row: row + 1, PADS[row]:], gen_length=32, mask_id=MASK, **ref)
        assert batched.nfe_per_row[row] == nfe


def test_parallel_rules_commit_several_tokens_per_pass(model):
    ids = prompts(1, 5)
    for preset, kw in (("threshold", dict(threshold=0.3)), ("factor", dict(factor=2.5)), ("eb_sampler", dict(gamma=3.0))):
        assert decode(model, ids, preset, gen_length=32, **IDS, **kw).nfe < 32


@pytest.mark.parametrize("ours,ref", [
    (dict(), dict(gamma=0.01)),
    (dict(gamma=2.5), dict(gamma=2.5)),
    (dict(gamma=3.0, remasking="entropy", block_length=8), dict(gamma=3.0, alg="entropy", block_length=8)),
])
def test_eb_sampler_matches_reference(model, ours, ref):
    ref = {"block_length": 32, **ref}
    ids, mask = left_padded()
    expected, nfe = eb_generate(model, ids, attention_mask=mask, gen_length=32, mask_id=MASK, **ref)
    batched = check_batch_invariance(model, "eb_sampler", gen_length=32, **ours)
    assert torch.equal(batched.sequences, expected)
    assert batched.nfe_per_row == nfe


@pytest.mark.parametrize("preset,alg,kw", [
    ("dream_entropy", "entropy", dict()),
    ("dream_entropy", "maskgit_plus", dict(remasking="low_confidence")),
    ("dream_entropy", "topk_margin", dict(remasking="margin", steps=7)),
    ("dream_entropy", "entropy", dict(steps="full", eps=0.05)),
    ("dream_entropy", "entropy", dict(alg_temp=0.5)),
    ("dream_origin", "origin", dict()),
    ("dream_origin", "origin", dict(steps="full")),
])
def test_dream_matches_reference_at_batch_1(model, preset, alg, kw):
    shifted = ShiftedLogits(model)
    ids, mask = left_padded()
    settings = dict(gen_length=32, steps=kw.pop("steps", 16), eps=kw.pop("eps", 1e-3))
    for row in range(3):
        g = torch.Generator().manual_seed(11 + row)
        steps = {"half": 16, "full": 32}.get(settings["steps"], settings["steps"])
        expected = dream_generate(model, ids[row: row + 1, PADS[row]:], gen_length=32, steps=steps, eps=settings["eps"],
                                  alg=alg, alg_temp=kw.get("alg_temp", 0.0), mask_id=MASK, generator=g)
        out = alone(shifted, ids, mask, row, preset, seeds=[11 + row], **settings, **kw)
        assert torch.equal(out.sequences, expected)
        if alg != "origin":
            assert out.nfe == steps
    batched = decode(shifted, ids, preset, attention_mask=mask, seeds=[11, 12, 13], **IDS, **settings, **kw)
    for row in range(3):
        out = alone(shifted, ids, mask, row, preset, seeds=[11 + row], **settings, **kw)
        assert torch.equal(batched.sequences[row, PADS[row]:], out.sequences[0])
        assert batched.nfe_per_row[row] == out.nfe


@pytest.mark.parametrize("preset,kw", [
    ("threshold", dict(remasking="margin", eos_policy="eoser", threshold=0.5)),
    ("factor", dict(remasking="random", eos_policy="logits_eos_inf")),
    ("eb_sampler", dict(remasking="entropy", eos_policy="confidence_eos_eot_inf", temperature=0.7, gamma=3.0)),
])
def test_adaptive_rules_combine_with_rankings_and_eos_policies(preset, kw):
    model = TinyMDLM(seed=3, eos_bias=6.0)
    ids, mask = left_padded()
    batched = decode(model, ids, preset, attention_mask=mask, gen_length=32, block_length=16, seeds=[4, 5, 6], **IDS,
                     **kw)
    for row in range(3):
        out = alone(model, ids, mask, row, preset, gen_length=32, block_length=16, seeds=[4 + row], **kw)
        assert torch.equal(batched.sequences[row, PADS[row]:], out.sequences[0])
        assert batched.nfe_per_row[row] == out.nfe
    assert (batched.sequences != MASK).all()


def test_a_cap_bounds_each_block_and_fills_it(model):
    ids = prompts(2, 5)
    free = decode(model, ids, "threshold", gen_length=32, block_length=16, **IDS)
    capped = decode(model, ids, "threshold", gen_length=32, block_length=16, steps=4, **IDS)  # 2 per block
    assert max(free.nfe_per_row) > 4 and capped.nfe_per_row == [4, 4]
    assert (capped.sequences != MASK).all()


def test_eoser_under_random_ranking_leaves_scores_alone(model):
    kw = dict(gen_length=32, steps=16, remasking="random", seeds=[3, 4, 5], **IDS)
    ids = prompts()
    assert torch.equal(decode(model, ids, "eoser", **kw).sequences,
                       decode(model, ids, "full_diffusion", **kw).sequences)
    scaled = dict(kw, remasking="low_confidence")
    assert not torch.equal(decode(TinyMDLM(seed=3, eos_bias=6.0), ids, "eoser", **scaled).sequences,
                           decode(TinyMDLM(seed=3, eos_bias=6.0), ids, "full_diffusion", **scaled).sequences)


@pytest.mark.parametrize("kw", [dict(), dict(threshold=0.3, threshold_back=0.5), dict(threshold=0.2, threshold_back=0.99)])
def test_wino_matches_reference_and_re_masks(model, kw):
    ref = dict(threshold=0.6, threshold_back=0.9) | kw
    batched = check_batch_invariance(model, "wino", gen_length=32, block_length=16, **kw)
    ids, _ = left_padded()
    for row in range(3):
        expected, nfe = wino_generate(model, ids[row: row + 1, PADS[row]:], gen_length=32, block_length=16, mask_id=MASK,
                                      **ref)
        assert torch.equal(batched.sequences[row, PADS[row]:], expected[0])
        assert batched.nfe_per_row[row] == nfe


def test_wino_re_masks_committed_tokens(monkeypatch):
    from mdlm_eval.decoding.commit import WinoRule

    remasked, select = [], WinoRule.select
    monkeypatch.setattr(WinoRule, "select", lambda self, step: remasked.append(select(self, step)) or remasked[-1])
    out = decode(TinyMDLM(seed=3, eos_bias=6.0), prompts(1, 5), "wino", gen_length=32, block_length=16,
                 threshold=0.3, threshold_back=0.5, trace=True, **IDS)
    assert sum(int(r[1].sum()) for r in remasked if isinstance(r, tuple)) > 0
    assert (out.sequences != MASK).all() and (out.trace.step >= 0).all()


def test_wino_refuses_what_it_cannot_honour():
    with pytest.raises(UsageError, match="cannot take cfg_scale"):
        decode(TinyMDLM(), prompts(1, 3), "wino", gen_length=32, cfg_scale=1.0, **IDS)
    with pytest.raises(UsageError, match="defined for LLaDA-style models only"):  # Dream's shifted logits
        decode(ShiftedLogits(TinyMDLM()), prompts(1, 3), "wino", gen_length=32, **IDS)

    class NoPositions(torch.nn.Module):  # a checkpoint's own code without position_ids
        def __init__(self):
            super().__init__()
            self.inner = TinyMDLM()

        def forward(self, input_ids, attention_mask=None):
            return self.inner(input_ids, attention_mask=attention_mask)

    with pytest.raises(UsageError, match="needs a model whose forward takes position_ids"):
        decode(NoPositions(), prompts(1, 3), "wino", gen_length=32, **IDS)


@pytest.mark.parametrize("threshold,block_length,steps", [(0.9, 8, 16), (0.3, 8, 16), (0.5, 16, 8), (0.05, 4, 32)])
def test_sdar_llada2_dynamic_rule_matches_reference(model, threshold, block_length, steps):
    """commit: dynamic (SDAR low_confidence_dynamic / LLaDA2): each row as the batch-1 re-statement, same passes."""
    ids, mask = left_padded()
    kw = dict(commit="dynamic", threshold=threshold, block_length=block_length, steps=steps, gen_length=32)
    batched = check_batch_invariance(model, "semi_ar", **kw)
    for row in range(3):
        expected, nfe = dynamic_generate(model, ids[row: row + 1, PADS[row]:], steps=steps, gen_length=32,
                                         block_length=block_length, threshold=threshold, mask_id=MASK)
        assert torch.equal(batched.sequences[row, PADS[row]:], expected[0])
        assert batched.nfe_per_row[row] == nfe
    if threshold < 0.1:  # a low threshold commits many per pass: blocks end before their steps run out
        assert max(batched.nfe_per_row) < steps
