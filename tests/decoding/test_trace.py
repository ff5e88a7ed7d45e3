import torch

from mdlm_eval import decode
from tests.decoding.tiny import EOS, MASK, TinyMDLM


def test_trace_records_each_position_once():
    ids = torch.tensor([[3, 4, 5], [6, 7, 8]])
    out = decode(TinyMDLM(eos_bias=6.0), ids, "eoser_ass", gen_length=32, mask_id=MASK, eos_token_ids=[EOS],
                 trace=True)
    step = out.trace.step
    assert step.shape == (2, 32) and step.min() == 0 and step.max() == 4
    assert [(step[0] == s).sum().item() for s in range(5)] == [1, 2, 4, 8, 17]
    assert not torch.isnan(out.trace.score).any()
    share = out.trace.early_eos_share(out.sequences[:, 3:], [EOS])
    early = step < 1
    expected = ((out.sequences[:, 3:] == EOS) & early).sum(1) / early.sum(1)
    assert torch.equal(share, expected)


def test_no_trace_by_default():
    out = decode(TinyMDLM(), torch.tensor([[3]]), "semi_ar", gen_length=32, mask_id=MASK, eos_token_ids=[EOS])
    assert out.trace is None and (out.sequences != MASK).all()
