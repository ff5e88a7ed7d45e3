"""`fast_dllm_v2` is Fast-dLLM v2's own `generate` (`reference.fast_dllm_v2_generate`, with its block cache and
without) token for token with the same forward passes, at batch 1 in float64 on the fast_dllm_v2_tiny fixture, and
each row of a left-padded batch decodes as alone."""
import pytest
import torch

from mdlm_eval import decode
from mdlm_eval.decoding.reference import fast_dllm_v2_generate
from mdlm_eval.errors import UsageError
from mdlm_eval.models.profiles import ShiftedLogits
from tests.decoding.test_block_diffusion import native
from tests.decoding.tiny import assert_rows_decode_as_alone

MASK, STOP = 63, 15  # 15 is among the tokens the fixture proposes most, so rows stop mid-block


class NoMaskProposed(torch.nn.Module):
    """The fixture with the mask id's logit at -inf: a trained model never proposes the mask; the random fixture
    sometimes does, and Fast-dLLM v2's loop then never ends (the position stays masked)."""

    block_causal = supports_block_cache = True

    def __init__(self, model):
        super().__init__()
        self.model, self.config, self.trained_block_length = model, model.config, model.trained_block_length

    def forward(self, *args, **kwargs):
        out = self.model(*args, **kwargs)
        out.logits[..., MASK] = -torch.inf
        return out


@pytest.fixture(scope="module")
def raw():
    return NoMaskProposed(native("fast_dllm_v2_tiny").model)


def prompt(length):
    return torch.randint(3, 60, (1, length), generator=torch.Generator().manual_seed(length))


def compare(raw, length, block, sub, threshold, stop, max_new_tokens, use_block_cache=True):
    ids = prompt(length)
    ref, nfe = fast_dllm_v2_generate(raw, ids, max_new_tokens=max_new_tokens, block_length=block,
                                     sub_block_length=sub, threshold=threshold, mask_id=MASK, stop_id=stop,
                                     use_block_cache=use_block_cache)
    # the reference returns B (max_new_tokens // B) - (P mod B) + 1 tokens (cut after a stop id)
    gen_length = block * (max_new_tokens // block) - length % block + 1
    out = decode(ShiftedLogits(raw), ids, "fast_dllm_v2", gen_length=gen_length, block_length=block,
                 sub_block_length=sub, threshold=threshold, mask_id=MASK, eos_token_ids=[] if stop is None else [stop],
                 use_block_cache=use_block_cache)
    theirs = ref[0, length:]
    assert torch.equal(out.sequences[0, :length], ids[0])
    assert torch.equal(out.sequences[0, length:length + len(theirs)], theirs)
    # cut after a stop id (tokens committed after it stay here, its masks become stop ids), else whole
    assert len(theirs) == gen_length or theirs[-1] == stop
    assert not (out.sequences == MASK).any()
    assert out.nfe == nfe == out.nfe_per_row[0]
    return theirs


@pytest.mark.parametrize("length", [3, 6, 8, 9, 12, 13])  # 8, 12: P mod B = 0, the prefill commits the first token
@pytest.mark.parametrize("threshold", [0.9, 0.1])
@pytest.mark.parametrize("stop", [None, STOP])
def test_preset_is_fast_dllm_v2_generate(raw, length, threshold, stop):
    compare(raw, length, 4, 2, threshold, stop, 12)


@pytest.mark.parametrize("length", [3, 6, 9, 16])
@pytest.mark.parametrize("threshold", [0.9, 0.3])
def test_sub_blocks_of_4_in_blocks_of_8(raw, length, threshold):
    """Here the block cache changes the tokens (see below), so these cases tell its passes from whole-block ones."""
    compare(raw, length, 8, 4, threshold, STOP, 16)


@pytest.mark.parametrize("length", [3, 6, 9, 16])
def test_without_the_block_cache(raw, length):
    """`use_block_cache=False` (the default of the reference's signature): every pass over the whole block."""
    compare(raw, length, 8, 4, 0.3, STOP, 16, use_block_cache=False)


@pytest.mark.parametrize("length", [40, 64])
def test_blocks_of_32_with_sub_blocks_of_8(raw, length):
    compare(raw, length, 32, 8, 0.2, None, 64)


def test_the_grid_stops_mid_block_and_the_block_cache_matters(raw):
    """The cases above are not vacuous: some rows stop before their block is full, and with blocks of 8 the block
    cache gives other tokens than passes over the whole block (`use_block_cache=False`)."""
    settings = dict(block_length=4, sub_block_length=2, threshold=0.1, mask_id=MASK)
    mid_block = [len(fast_dllm_v2_generate(raw, prompt(n), 12, stop_id=STOP, **settings)[0][0]) % 4 not in (0, 1)
                 for n in (3, 6, 8, 9, 12, 13)]  # cut inside a block
    settings = dict(block_length=8, sub_block_length=4, threshold=0.3, mask_id=MASK)
    differs = [not torch.equal(fast_dllm_v2_generate(raw, prompt(n), 16, **settings)[0],
                               fast_dllm_v2_generate(raw, prompt(n), 16, use_block_cache=False, **settings)[0])
               for n in (3, 6, 9, 16)]
    assert any(mid_block) and any(differs)


def test_padded_rows_decode_as_alone(raw):
    model = ShiftedLogits(raw)
    rows = [prompt(n)[0] for n in (3, 8, 13, 6, 9)]  # P mod 4 = 3, 0, 1, 2, 1
    for stop in ([], [STOP]):
        assert_rows_decode_as_alone(model, rows, "fast_dllm_v2", 2, gen_length=10, block_length=4, sub_block_length=2,
                                    threshold=0.3, mask_id=MASK, eos_token_ids=stop)


class Refuse(torch.nn.Module):
    """A model that fails the test if it is ever called."""

    def __init__(self, model):
        super().__init__()
        self.inner = model
        for name in ("block_causal", "supports_block_cache", "trained_block_length", "logits_lead", "config"):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    def forward(self, *args, **kwargs):
        raise AssertionError("a forward pass ran before the error")


@pytest.mark.parametrize("overrides, message", [
    (dict(sub_block_length=3), "sub_block_length 3 does not divide block_length 4"),
    (dict(steps=8), "steps must be null"),
    (dict(sub_block_length=2, commit="threshold"), "read by commit fast_dllm_v2 only"),
    (dict(use_block_cache="sometimes"), "use_block_cache must be true or false"),
])
def test_bad_settings_are_refused_in_one_line(raw, overrides, message):
    with pytest.raises(UsageError, match=message) as error:
        decode(Refuse(ShiftedLogits(raw)), prompt(5), "fast_dllm_v2", gen_length=8, mask_id=MASK,
               eos_token_ids=[STOP], **overrides)
    assert "\n" not in str(error.value)


def test_other_models_are_refused_in_one_line(raw):
    from mdlm_eval.models.toy import MdlmToyModel
    from mdlm_eval.model_files import resolve_pretrained

    toy = MdlmToyModel.from_pretrained(resolve_pretrained("toy")[0]).eval()
    toy_bd = MdlmToyModel.from_pretrained(resolve_pretrained("toy-bd")[0]).eval()
    for model, message in ((toy, "is bidirectional"), (toy_bd, "needs shifted logits")):
        with pytest.raises(UsageError, match=message) as error:
            decode(Refuse(model), prompt(5), "fast_dllm_v2", gen_length=8, sub_block_length=2, mask_id=2,
                   eos_token_ids=[0])
        assert "\n" not in str(error.value)
