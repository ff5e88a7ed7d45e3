"""Each preset reproduces its reference implementation token for token, with the same number of passes."""
import pytest
import torch

from mdlm_eval import decode
from mdlm_eval.decoding.reference import ass_generate, llada_generate
from tests.decoding.tiny import EOS, EOT, MASK, TinyMDLM

IDS = dict(mask_id=MASK, eos_token_ids=[EOS])


def prompts(batch=3, length=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, MASK, (batch, length), generator=g)


def left_padded(seed=2):
    """Three prompts of lengths 5, 3, 1, left-padded with EOS, and their attention mask."""
    p = prompts(3, 5, seed)
    mask = torch.ones_like(p)
    for row, pad in ((1, 2), (2, 4)):
        p[row, :pad], mask[row, :pad] = EOS, 0
    return p, mask


@pytest.fixture(params=[0.0, 6.0], ids=["plain", "eos-heavy"])
def model(request):
    return TinyMDLM(seed=3, eos_bias=request.param)


LLADA_CASES = [
    ("semi_ar", dict(gen_length=32, steps=16, block_length=8), dict(gen_length=32, steps=16, block_length=8)),
    ("semi_ar", dict(gen_length=24, steps=24, block_length=8), dict(gen_length=24, steps=24, block_length=8)),
    ("full_diffusion", dict(gen_length=32, steps=16), dict(gen_length=32, steps=16, block_length=32)),
    ("full_diffusion", dict(gen_length=20, steps=7), dict(gen_length=20, steps=7, block_length=20)),
    ("semi_ar", dict(gen_length=32, steps=8, block_length=16, eos_policy="logits_eos_inf"),
     dict(gen_length=32, steps=8, block_length=16, logits_eos_inf=True)),
    ("full_diffusion", dict(gen_length=32, steps=16, eos_policy="confidence_eos_eot_inf", eos_token_ids=[EOS, EOT]),
     dict(gen_length=32, steps=16, block_length=32, confidence_eos_eot_inf=True)),
    ("semi_ar", dict(gen_length=16, steps=8, block_length=8, cfg_scale=0.7),
     dict(gen_length=16, steps=8, block_length=8, cfg_scale=0.7)),
    ("eoser", dict(gen_length=32, steps=16), dict(gen_length=32, steps=16, block_length=32, eoser_gamma=(0.4, 1.0))),
    ("eoser", dict(gen_length=32, steps=16, eos_min_gamma=0.1, eos_max_gamma=0.9),
     dict(gen_length=32, steps=16, block_length=32, eoser_gamma=(0.1, 0.9))),
]


@pytest.mark.parametrize("preset,ours,ref", LLADA_CASES)
@pytest.mark.parametrize("padded", [False, True])
def test_llada_family_matches_reference(model, preset, ours, ref, padded):
    if padded:
        ids, mask = left_padded()
    else:
        ids, mask = prompts(), None
    ours = {**IDS, **ours}
    expected = llada_generate(model, ids, attention_mask=mask, mask_id=MASK, eos_id=EOS, eot_id=EOT, **ref)
    model.calls = 0
    out = decode(model, ids, preset, attention_mask=mask, **ours)
    assert torch.equal(out.sequences, expected)
    assert out.nfe == model.calls == ref["steps"]


ASS_CASES = [
    ("ass", 32, 1, None), ("ass", 40, 1, None), ("ass", 64, 4, None), ("ass", 100, 3, None),
    ("eoser_ass", 32, 1, (0.01, 1.0)), ("eoser_ass", 40, 1, (0.01, 1.0)), ("eoser_ass", 64, 3, (0.01, 1.0)),
]


@pytest.mark.parametrize("preset,gen_length,block_num,gamma", ASS_CASES)
def test_ascending_family_matches_reference(model, preset, gen_length, block_num, gamma):
    ids = prompts(2, 4)
    expected = ass_generate(model, ids, gen_length=gen_length, block_num=block_num, mask_id=MASK, eos_id=EOS,
                            eoser_gamma=gamma)
    model.calls = 0
    out = decode(model, ids, preset, gen_length=gen_length, block_num=block_num, **IDS)
    assert torch.equal(out.sequences, expected)
    assert out.nfe == model.calls == gen_length.bit_length() - 1


@pytest.mark.parametrize("preset", ["semi_ar", "full_diffusion", "eoser", "ass", "eoser_ass", "semi_ar_margin",
                                    "semi_ar_entropy", "semi_ar_random"])
def test_each_left_padded_row_decodes_as_alone(model, preset):
    ids, mask = left_padded()
    kw = dict(gen_length=32, temperature=0.0, **IDS)
    batched = decode(model, ids, preset, attention_mask=mask, seeds=[5, 6, 7], **kw).sequences
    for row, pad in enumerate((0, 2, 4)):
        alone = decode(model, ids[row : row + 1, pad:], preset, seeds=[5 + row], **kw).sequences
        assert torch.equal(batched[row, pad:], alone[0])


def test_sampling_is_seeded_per_row(model):
    ids, mask = left_padded()
    kw = dict(gen_length=32, steps=16, temperature=1.0, attention_mask=mask, **IDS)
    a = decode(model, ids, "semi_ar", seeds=[1, 2, 3], **kw).sequences
    b = decode(model, ids, "semi_ar", seeds=[1, 2, 3], **kw).sequences
    c = decode(model, ids, "semi_ar", seeds=[1, 2, 4], **kw).sequences
    assert torch.equal(a, b)
    assert torch.equal(a[:2], c[:2]) and not torch.equal(a[2], c[2])
    alone = decode(model, ids[2:, 4:], "semi_ar", gen_length=32, steps=16, temperature=1.0, seeds=[3], **IDS)
    assert torch.equal(alone.sequences[0], a[2, 4:])
