"""Block diffusion in the one loop: the aligned canvas, per-block stop, exact to LLaDA2's `generate` at batch 1,
and each row of a left-padded batch decoded as alone (on toy-bd, float64)."""
from pathlib import Path

import pytest
import torch

from mdlm_eval import decode
from mdlm_eval.decoding.reference import block_diffusion_generate
from mdlm_eval.errors import UsageError
from tests.decoding.tiny import assert_rows_decode_as_alone, left_padded

MASK, EOS, L, B = 2, 0, 16, 8


def prompt(length, seed):
    return torch.randint(4, 128, (1, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("length", [5, 8, 11])
@pytest.mark.parametrize("threshold", [0.95, 0.5])
def test_llada2_preset_is_llada2_generate(toy_bd, length, threshold):
    ids = prompt(length, length)
    out = decode(toy_bd, ids, "llada2", gen_length=L, block_length=B, threshold=threshold, mask_id=MASK,
                 eos_token_ids=[EOS])
    ref, nfe = block_diffusion_generate(toy_bd, ids, gen_length=L, block_length=B, steps=B, threshold=threshold,
                                        mask_id=MASK, eos_id=EOS)
    ours, theirs = out.sequences[0, length:], ref[0, length:length + L]
    assert torch.equal(out.sequences[0, :length], ids[0])
    # after the block holding EOS the reference stops and leaves masks, which the loop fills with EOS
    assert torch.equal(ours, torch.where(theirs == MASK, torch.tensor(EOS), theirs))
    assert out.nfe == nfe


def test_padded_rows_decode_as_alone(toy_bd):
    rows = [prompt(n, 10 + n)[0] for n in (5, 13, 8)]
    assert_rows_decode_as_alone(toy_bd, rows, "sdar", EOS, gen_length=L, block_length=B, mask_id=MASK,
                                eos_token_ids=[EOS])


def ass_in_blocks(model, ids, gen_length, block_length):
    """ASS inside each block, restated (greedy, uncached, LLaDA2's block layout and per-block stop): block b's step s
    commits the 2^s most confident masks, its last step every mask left (B = 8: 1, 2, 5)."""
    P = ids.shape[1]
    num_blocks = -(-(P + gen_length) // block_length)
    x = torch.full((1, num_blocks * block_length), MASK)
    x[:, :P] = ids
    S, nfe = block_length.bit_length() - 1, 0
    for b in range(P // block_length, num_blocks):
        s, e = b * block_length, (b + 1) * block_length
        for step in range(S):
            masked = x[0, s:e] == MASK
            if not masked.any():
                break
            p = torch.softmax(model(x[:, :e], block_length=block_length).logits[0, s:e], -1)
            nfe += 1
            x0 = p.argmax(-1)
            confidence = torch.where(masked, p.gather(-1, x0[:, None])[:, 0], torch.tensor(-torch.inf))
            k = int(masked.sum()) if step == S - 1 else 2 ** step
            take = confidence.sort(descending=True, stable=True).indices[:k]
            x[0, s + take] = x0[take]
        if (x[0, P:e] == EOS).any():
            break
    return x[0, P:P + gen_length].masked_fill(x[0, P:P + gen_length] == MASK, EOS), nfe


@pytest.mark.parametrize("length", [5, 8, 11])
def test_ascending_step_sizes_run_inside_each_block(toy_bd, length):
    ids = prompt(length, 40 + length)
    out = decode(toy_bd, ids, "ass", gen_length=L, mask_id=MASK, eos_token_ids=[EOS])
    tokens, nfe = ass_in_blocks(toy_bd, ids, L, B)
    assert torch.equal(out.sequences[0, length:], tokens) and out.nfe == nfe
    assert out.nfe <= (-(-(length % B + L) // B)) * 3  # floor(log2 8) = 3 passes per block at most


def test_eoser_ass_in_blocks_decodes_padded_rows_as_alone(toy_bd):
    rows = [prompt(n, 50 + n)[0] for n in (5, 13, 8)]
    assert_rows_decode_as_alone(toy_bd, rows, "eoser_ass", EOS, gen_length=L, mask_id=MASK, eos_token_ids=[EOS])


def test_ascending_blocks_take_log2_b_steps_each():
    from mdlm_eval.decoding import load_spec, planned_nfe

    spec = load_spec("eoser_ass").with_overrides(block_length=32)
    assert spec.resolve_steps(256) == 8 * 5 and planned_nfe(spec, 256) == 40
    with pytest.raises(UsageError, match="5 steps per block, 40 in all, got 8"):
        planned_nfe(spec.with_overrides(steps=8), 256)
    with pytest.raises(UsageError, match="block_num 2 lays ascending steps over the whole canvas"):
        spec.with_overrides(block_num=2)


FIXTURES = Path(__file__).resolve().parents[1] / "models" / "fixtures"


def native(name):
    """The native block-causal models on their reference fixtures (mask 63), float64."""
    from mdlm_eval.models.llada2 import Llada2MoeModelLM
    from mdlm_eval.models.profiles import ShiftedLogits
    from mdlm_eval.models.sdar import FastDLLMV2ForCausalLM, SDARForCausalLM

    cls = {"sdar_tiny": SDARForCausalLM, "fast_dllm_v2_tiny": FastDLLMV2ForCausalLM,
           "llada2_tiny": Llada2MoeModelLM}[name]
    model = cls.from_pretrained(FIXTURES / name, dtype=torch.float64).eval()
    return ShiftedLogits(model) if name == "fast_dllm_v2_tiny" else model


@pytest.mark.parametrize("name", ["sdar_tiny", "llada2_tiny", "fast_dllm_v2_tiny"])
def test_every_family_decodes_padded_rows_as_alone(name):
    """No peer tests this (diffusers' LLaDA2 pipeline drops the padding mask, its issue 13598)."""
    model = native(name)
    rows = [torch.randint(3, 60, (n,), generator=torch.Generator().manual_seed(n)) for n in (3, 9, 6)]
    assert_rows_decode_as_alone(model, rows, "llada2", 2, gen_length=10, block_length=4, threshold=0.2, mask_id=63,
                                eos_token_ids=[60])


@pytest.mark.parametrize("name", ["sdar_tiny", "llada2_tiny"])
def test_native_models_follow_llada2_generate(name):
    model, ids = native(name), torch.randint(3, 60, (1, 6), generator=torch.Generator().manual_seed(1))
    out = decode(model, ids, "llada2", gen_length=10, block_length=4, threshold=0.2, mask_id=63, eos_token_ids=[60])
    ref, nfe = block_diffusion_generate(model, ids, gen_length=10, block_length=4, steps=4, threshold=0.2,
                                        mask_id=63, eos_id=60)
    theirs = ref[0, 6:16]
    assert torch.equal(out.sequences[0, 6:], torch.where(theirs == 63, torch.tensor(60), theirs))
    assert out.nfe == nfe


@pytest.mark.parametrize("decoder", ["semi_ar", "threshold"])
def test_the_block_cache_decodes_as_uncached(toy_bd, decoder, monkeypatch):
    """Finished blocks' keys and values are stored once and read after (SDAR's passes); the uncached loop feeds
    the whole canvas each pass. Same tokens and passes per row, on a left-padded batch (float64)."""
    ids, mask = left_padded([prompt(n, 20 + n)[0] for n in (4, 12, 9)], EOS)
    settings = dict(gen_length=24, block_length=B, mask_id=MASK, eos_token_ids=[EOS], attention_mask=mask)
    cached = decode(toy_bd, ids, decoder, **settings)
    monkeypatch.setattr(type(toy_bd), "supports_block_cache", False)
    uncached = decode(toy_bd, ids, decoder, **settings)
    assert torch.equal(cached.sequences, uncached.sequences)
    assert cached.nfe_per_row == uncached.nfe_per_row


def test_store_passes_per_row_are_those_of_the_row_alone(toy_bd):
    """The exact cache's extra passes (the prompt's full blocks, then each block finished), counted as alone."""
    rows = [prompt(n, 60 + n)[0] for n in (5, 13, 8)]
    settings = dict(gen_length=L, block_length=B, mask_id=MASK, eos_token_ids=[EOS])
    batch, alone = assert_rows_decode_as_alone(toy_bd, rows, "semi_ar", EOS, **settings)
    assert batch.store_passes_per_row == [out.store_passes_per_row[0] for out in alone]
    assert sorted(batch.store_passes_per_row) != [0, 0, 0]
    no_stop = dict(settings, eos_token_ids=[])
    assert decode(toy_bd, rows[0][None], "semi_ar", **no_stop).store_passes_per_row == [2]  # 3 blocks, no full one
    assert decode(toy_bd, rows[1][None], "semi_ar", **no_stop).store_passes_per_row == [3]  # 13 tokens: 1 full


def test_integer_steps_are_a_budget_per_block(toy_bd):
    """8 steps for L = 16 in blocks of 8: 4 a block, whatever number of blocks a row's canvas has (a prompt of 8
    needs 2, one of 5 needs 3), so a padded row decodes as alone."""
    rows = [prompt(n, 70 + n)[0] for n in (8, 5)]
    settings = dict(gen_length=L, block_length=B, steps=8, mask_id=MASK, eos_token_ids=[])
    batch, _ = assert_rows_decode_as_alone(toy_bd, rows, "semi_ar", EOS, **settings)
    assert batch.nfe_per_row == [8, 2 + 8]  # the second row's first block holds 3 masks: 2 passes
    with pytest.raises(UsageError, match="7 steps do not divide evenly over the 2 blocks"):
        decode(toy_bd, rows[0][None], "semi_ar", **dict(settings, steps=7))
