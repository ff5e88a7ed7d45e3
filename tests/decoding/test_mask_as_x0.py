"""A mask token proposed as x0 stays masked and the decode goes on, as the references' fixed loops do."""
import pytest
import torch

from mdlm_eval import decode
from mdlm_eval.decoding.reference import dream_generate, llada_generate
from mdlm_eval.models.profiles import ShiftedLogits
from tests.decoding.test_exactness import prompts
from tests.decoding.tiny import EOS, MASK, TinyMDLM

IDS = dict(mask_id=MASK, eos_token_ids=[EOS])


class MaskFirst(TinyMDLM):
    """TinyMDLM whose most likely token is the mask itself at some columns (counted from the canvas's end)."""

    def __init__(self, columns=(-3, -10)):
        super().__init__(seed=3)
        self.columns = list(columns)

    def forward(self, input_ids, attention_mask=None, position_ids=None):
        out = super().forward(input_ids, attention_mask, position_ids)
        out.logits[:, self.columns, MASK] = 1e3
        return out


@pytest.mark.parametrize("preset,alg,kw", [
    ("dream_entropy", "entropy", dict()),
    ("dream_maskgit_plus", "maskgit_plus", dict(steps=8)),
    ("dream_topk_margin", "topk_margin", dict(steps=4)),
    ("dream_entropy", "entropy", dict(alg_temp=0.5)),
    ("dream_origin", "origin", dict()),
])
def test_dream_leaves_the_mask_in_place(preset, alg, kw):
    model = MaskFirst()
    ids = prompts(1, 5)
    steps = kw.pop("steps", 16)
    expected = dream_generate(model, ids, gen_length=16, steps=steps, alg=alg, alg_temp=kw.get("alg_temp", 0.0),
                              mask_id=MASK, generator=torch.Generator().manual_seed(7))
    model.calls = 0
    out = decode(ShiftedLogits(model), ids, preset, gen_length=16, steps=steps, seeds=[7], **IDS, **kw)
    assert (expected == MASK).sum() == 2
    assert torch.equal(out.sequences, expected)
    assert out.nfe == model.calls == steps


@pytest.mark.parametrize("preset,block_length,columns", [("full_diffusion", 16, (-3, -10)), ("semi_ar", 8, (-3,))])
def test_llada_leaves_the_mask_in_place(preset, block_length, columns):
    """(LLaDA keeps a mask left in a finished block among the candidates of later blocks; here it stays.)"""
    model = MaskFirst(columns)
    ids = prompts(1, 5)
    expected = llada_generate(model, ids, steps=8, gen_length=16, block_length=block_length, mask_id=MASK, eos_id=EOS)
    model.calls = 0
    out = decode(model, ids, preset, gen_length=16, steps=8, block_length=block_length, **IDS)
    assert (expected == MASK).sum() >= len(columns)  # LLaDA's count slots go to the mask proposals, which always rank first
    assert torch.equal(out.sequences, expected)
    assert out.nfe == model.calls == 8


def test_capped_adaptive_rule_ends_at_its_cap():
    out = decode(MaskFirst(), prompts(2, 5), "threshold", gen_length=16, block_length=8, steps=4, **IDS)
    assert out.nfe_per_row == [4, 4] and ((out.sequences == MASK).sum(1) == 2).all()
