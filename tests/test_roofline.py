"""The roofline's counts (mdlm_eval/roofline.py): by hand on a tiny shape, against torch's FLOP counter on the
native LLaDA model, and per decode."""
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from mdlm_eval import decode
from mdlm_eval.models.llada import LladaConfig, LladaModelLM
from mdlm_eval.roofline import (LLADA_8B, Cost, Pass, Rates, Shape, decode_passes, macs_per_token, pass_cost,
                                recorded_passes)

TINY = Shape(d_model=8, n_layers=2, n_heads=2, kv_heads=2, ff_hidden=12, vocab=10)


def test_counts_by_hand_on_a_tiny_shape():
    cost = pass_cost(TINY, Pass(batch=3, fed=4, keys=6, logits=2), dtype_bytes=2)
    # per position and layer: q 8x8, k 8x8, v 8x8, attn_out 8x8, ff_proj 8x12, up_proj 8x12, ff_out 12x8
    assert cost.layers == 3 * 4 * 2 * (4 * 64 + 3 * 96)
    assert cost.attention == 3 * 4 * 2 * (2 * 6 * 8)  # (q k^T + p v) over 6 keys, 2 heads of 4
    assert cost.head == 3 * 2 * 8 * 10
    weights = 2 * (4 * 64 + 3 * 96) + 10 * 8
    activations = 12 * 2 * ((8 + 8 + 16) + 16 + (8 + 24) + (12 + 8))
    assert cost.bytes == 2 * (weights + activations + 3 * 2 * 2 * 6 * 8 + 3 * 2 * 10)


def test_llada_8b_shares_of_a_dual_cache_pass():
    """32 fed positions over 1,056 keys (800-token prompt, L = 256): the layers are about 90%, the head 7%."""
    shares = pass_cost(LLADA_8B, Pass(1, 32, 1056, 32)).shares()
    assert shares["layers"] == pytest.approx(0.898, abs=1e-3) and shares["head"] == pytest.approx(0.067, abs=1e-3)


def tiny_model(kv_heads=None):
    config = LladaConfig(d_model=32, n_heads=4, n_kv_heads=kv_heads, n_layers=2, mlp_hidden_size=48, vocab_size=50,
                         embedding_size=50, mask_token_id=49, eos_token_id=48, pad_token_id=48)
    torch.manual_seed(0)
    return LladaModelLM(config).eval()


@pytest.mark.parametrize("kv_heads", [None, 2])
def test_counts_match_torchs_flop_counter_on_the_native_model(kv_heads):
    model = tiny_model(kv_heads)
    shape = Shape.of(model.config)
    ids = torch.randint(0, 48, (2, 40))
    cache = model(ids, use_cache=True).past_key_values

    def flops(**kwargs):  # attention through SDPA's math kernel, whose matrix products the counter sees
        with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH), torch.no_grad():
            model(**kwargs)
        return counter.get_total_flops()

    cases = [(dict(input_ids=ids, logits_range=(24, 32)), Pass(2, 40, 40, 8)),  # uncached, block logits
             (dict(input_ids=ids[:, 24:], past_key_values=cache, window_start=24, logits_range=(24, 32)),
              Pass(2, 16, 40, 8)),  # prefix
             (dict(input_ids=ids[:, 24:32], past_key_values=cache, window_start=24, logits_range=(24, 32)),
              Pass(2, 8, 40, 8))]  # dual
    for kwargs, p in cases:
        assert flops(**kwargs) == 2 * pass_cost(shape, p).macs


@pytest.mark.parametrize("cache", ["none", "prefix", "dual"])
def test_a_decodes_passes_are_recorded_and_counted_per_token(cache):
    model = tiny_model()
    prompt = torch.randint(0, 48, (1, 20))
    with recorded_passes(model) as passes:
        out = decode(model, prompt, "semi_ar", gen_length=32, steps=8, block_length=16, mask_id=49,
                     eos_token_ids=[48], cache=cache)
    assert len(passes) == out.nfe == 8
    assert all(p.keys == 52 and p.logits == 16 for p in passes)
    fed = {"none": [52] * 8, "prefix": [52, 32, 32, 32, 52, 16, 16, 16], "dual": [52, 16, 16, 16, 52, 16, 16, 16]}
    assert [p.fed for p in passes] == fed[cache]
    shape = Shape.of(model.config)
    recorded = sum((pass_cost(shape, p) for p in passes), Cost())
    blocks = [(0, 16), (16, 32)]
    planned = sum((pass_cost(shape, p) * n for p, n in decode_passes(20, blocks, out.nfe, cache)), Cost())
    assert planned.macs == recorded.macs and planned.bytes == recorded.bytes
    assert macs_per_token(shape, 20, blocks, out.nfe, cache) == recorded.macs / 32


def test_the_roofline_time_is_the_slower_of_compute_and_memory():
    rates = Rates(macs_per_second=100.0, bytes_per_second=10.0)
    assert rates.seconds(Cost(layers=300.0, bytes=20.0)) == 3.0
    assert rates.seconds(Cost(layers=100.0, bytes=50.0)) == 5.0
