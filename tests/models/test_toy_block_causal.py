"""The toy's block-causal mode: the protocol of mdlm_eval/models/block_causal.py (window + cache == full)."""
import torch

from mdlm_eval.models import block_causal
from mdlm_eval.models.toy import MdlmToyConfig, MdlmToyModel
from mdlm_eval.models.toy import modeling_mdlm_toy as toy_code


def tiny_bd(block=4):
    torch.manual_seed(0)
    cfg = MdlmToyConfig(vocab_size=40, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                        num_attention_heads=4, block_causal=True, trained_block_length=block)
    return MdlmToyModel(cfg).to(torch.float64).eval()


def test_protocol_attributes():
    m = tiny_bd(4)
    assert m.block_causal is True and m.trained_block_length == 4
    off = MdlmToyModel(MdlmToyConfig(vocab_size=40, hidden_size=32, intermediate_size=48, num_hidden_layers=1,
                                     num_attention_heads=4))
    assert off.block_causal is False


def test_restated_mask_equals_the_shared_one():
    am = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1, 1, 1], [1] * 10])
    for s, w in ((0, 10), (4, 3), (7, 3)):
        assert torch.equal(toy_code.block_causal_mask(am, 3, s, w, 2, "cpu"),
                           block_causal.block_causal_mask(am, 3, s, w, 2, "cpu"))


def test_block_causal_forward_sees_no_later_block():
    """A later block's tokens leave earlier blocks' logits unchanged; a token in the same block changes them."""
    m = tiny_bd(4)
    x = torch.randint(4, 40, (1, 12))
    later, same = x.clone(), x.clone()
    later[0, 8] = (x[0, 8] + 1) % 40
    same[0, 6] = (x[0, 6] + 1) % 40
    with torch.no_grad():
        base, lo, so = m(x).logits, m(later).logits, m(same).logits
    assert torch.equal(base[0, :8], lo[0, :8]) and not torch.allclose(base[0, 8], lo[0, 8])
    assert not torch.allclose(base[0, 4], so[0, 4])


def test_cached_windows_equal_the_full_forward():
    """Prefill [0, 8), then windows [8, 12) and [12, 16) on the cache: logits equal the full forward (float64),
    with a row left-padded by one block beside a full one (windows cut at block ends of every row)."""
    m = tiny_bd(4)
    torch.manual_seed(1)
    x = torch.randint(4, 40, (2, 16))
    am = torch.ones_like(x)
    am[0, :4] = 0
    x[0, :4] = 1
    with torch.no_grad():
        full = m(x, attention_mask=am).logits
        pre = m(x[:, :8], attention_mask=am[:, :8], use_cache=True)
        assert torch.allclose(pre.logits, full[:, :8], atol=1e-12)
        pkv = pre.past_key_values
        for s, e in ((8, 12), (12, 16)):
            out = m(x[:, s:e], attention_mask=am[:, :e], past_key_values=pkv, window_start=s, use_cache=True)
            assert torch.allclose(out.logits, full[:, s:e], atol=1e-12)
            pkv = tuple((torch.cat([k, nk], 2), torch.cat([v, nv], 2))
                        for (k, v), (nk, nv) in zip(pkv, out.past_key_values))
    assert pkv[0][0].shape[2] == 16


def test_left_padded_row_equals_the_row_alone():
    m = tiny_bd(4)
    torch.manual_seed(2)
    a = torch.randint(4, 40, (1, 9))
    batch = torch.cat([torch.ones(1, 5, dtype=torch.long), a], 1)
    am = torch.ones_like(batch)
    am[0, :5] = 0
    with torch.no_grad():
        padded = m(batch, attention_mask=am, block_length=3).logits[:, 5:]
        alone = m(a, block_length=3).logits
    assert torch.allclose(padded, alone, atol=1e-12)
    assert not torch.isnan(m(batch, attention_mask=am).logits).any()
