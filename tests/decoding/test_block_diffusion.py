"""Block diffusion in the one loop: the aligned canvas, per-block stop, exact to LLaDA2's `generate` at batch 1,
and each row of a left-padded batch decoded as alone (on toy-bd, float64)."""
import pytest
import torch

from mdlm_eval import decode
from mdlm_eval.decoding.reference import block_diffusion_generate
from mdlm_eval.errors import UsageError
from mdlm_eval.model_files import resolve_pretrained
from mdlm_eval.models.toy import MdlmToyModel

MASK, EOS, L, B = 2, 0, 16, 8


@pytest.fixture(scope="module")
def toy_bd():
    model = MdlmToyModel.from_pretrained(resolve_pretrained("toy-bd")[0], dtype=torch.float64).eval()
    assert model.block_causal and model.trained_block_length == B
    return model


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
    width = max(len(r) for r in rows)
    ids = torch.full((3, width), EOS)
    mask = torch.zeros((3, width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):], mask[i, width - len(r):] = r, 1
    batch = decode(toy_bd, ids, "sdar", gen_length=L, block_length=B, mask_id=MASK, eos_token_ids=[EOS],
                   attention_mask=mask)
    for i, r in enumerate(rows):
        alone = decode(toy_bd, r[None], "sdar", gen_length=L, block_length=B, mask_id=MASK, eos_token_ids=[EOS])
        assert torch.equal(batch.sequences[i, width:], alone.sequences[0, len(r):])
        assert batch.nfe_per_row[i] == alone.nfe


def test_ascending_schedule_is_refused_in_one_line(toy_bd):
    with pytest.raises(UsageError, match="block-causal"):
        decode(toy_bd, prompt(5, 0), "eoser_ass", gen_length=L, mask_id=MASK, eos_token_ids=[EOS])
