"""LLaDA2.1's token editing (commit `edit`) in the one loop: exact to LLaDA2.1's `generate` at batch 1 (float64,
toy-bd and the LLaDA2 fixture told that they edit), each row of a left-padded batch as alone, and the one-line
refusal on a model that does not edit."""
import pytest
import torch

from mdlm_eval import decode
from mdlm_eval.decoding.reference import editing_generate
from mdlm_eval.errors import UsageError
from tests.decoding.test_block_diffusion import EOS, MASK, native, prompt
from tests.decoding.tiny import assert_rows_decode_as_alone, left_padded

MODES = [(0.5, 0.0), (0.7, 0.5), (0.9, 0.3)]  # speed mode, quality mode, a strict one


@pytest.fixture
def editing_toy(toy_bd, monkeypatch):
    monkeypatch.setattr(toy_bd, "token_editing", True, raising=False)
    return toy_bd


def compare(model, ids, mask_id, eos_id, gen_length, block_length, threshold, editing_threshold, max_post=16):
    out = decode(model, ids, "llada21_quality", gen_length=gen_length, block_length=block_length,
                 threshold=threshold, editing_threshold=editing_threshold, max_post_steps=max_post, mask_id=mask_id,
                 eos_token_ids=[eos_id])
    ref, nfe, edits = editing_generate(model, ids, gen_length=gen_length, block_length=block_length,
                                       threshold=threshold, editing_threshold=editing_threshold,
                                       max_post_steps=max_post, mask_id=mask_id, eos_id=eos_id)
    P = ids.shape[1]
    theirs = ref[0, P:P + gen_length]
    # after the block holding EOS the reference stops and leaves masks, which the loop fills with EOS
    assert torch.equal(out.sequences[0, P:], torch.where(theirs == mask_id, torch.tensor(eos_id), theirs))
    assert out.nfe == nfe
    return edits


@pytest.mark.parametrize("length", [5, 11])
def test_edit_preset_is_llada21_generate_on_toy_bd(editing_toy, length):
    edits = [compare(editing_toy, prompt(length, length), MASK, EOS, 16, 8, t, e) for t, e in MODES]
    assert sum(edits) > 0  # the comparison covers tokens re-written


def test_edit_preset_is_llada21_generate_on_the_llada2_fixture(monkeypatch):
    model = native("llada2_tiny")
    monkeypatch.setattr(model, "token_editing", True)
    ids = torch.randint(3, 60, (1, 6), generator=torch.Generator().manual_seed(1))
    edits = [compare(model, ids, 63, 60, 10, 4, t, e, max_post) for (t, e), max_post in zip(MODES, (16, 2, 0))]
    assert sum(edits) > 0


def test_padded_rows_edit_as_alone(editing_toy):
    rows = [prompt(n, 30 + n)[0] for n in (5, 13, 8)]
    assert_rows_decode_as_alone(editing_toy, rows, "llada21_speed", EOS, gen_length=16, block_length=8, mask_id=MASK,
                                eos_token_ids=[EOS])


def test_a_model_that_does_not_edit_is_refused_in_one_line(toy_bd):
    with pytest.raises(UsageError, match="re-writes committed tokens.*llada21_moe"):
        decode(toy_bd, prompt(5, 0), "llada21_speed", gen_length=16, mask_id=MASK, eos_token_ids=[EOS])


def test_editing_through_the_block_cache_decodes_as_uncached(monkeypatch):
    """LLaDA2's native model takes the exact block cache: editing passes read it as the uncached loop reads the
    whole canvas (same tokens, same passes per row, left-padded batch, float64)."""
    model = native("llada2_tiny")
    monkeypatch.setattr(model, "token_editing", True)
    rows = [torch.randint(3, 60, (n,), generator=torch.Generator().manual_seed(n)) for n in (3, 9, 6)]
    ids, mask = left_padded(rows, 2)
    settings = dict(gen_length=10, block_length=4, threshold=0.2, editing_threshold=0.1, mask_id=63,
                    eos_token_ids=[60], attention_mask=mask)
    cached = decode(model, ids, "llada21_speed", **settings)
    monkeypatch.setattr(type(model), "supports_block_cache", False)
    uncached = decode(model, ids, "llada21_speed", **settings)
    assert torch.equal(cached.sequences, uncached.sequences) and cached.nfe_per_row == uncached.nfe_per_row
    assert cached.store_passes_per_row is not None and uncached.store_passes_per_row is None
