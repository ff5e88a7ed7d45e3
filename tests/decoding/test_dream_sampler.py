"""Dream's sampler (`sampler: dream`, top_p, top_k) and the Dream presets reproduce Dream's `_sample` token for
token at batch 1, its random stream included (the reference draws from the global RNG, as Dream does)."""
import re
from types import SimpleNamespace

import pytest
import torch

from mdlm_eval import decode, load_spec
from mdlm_eval.decoding.reference import dream_generate
from mdlm_eval.errors import UsageError
from mdlm_eval.models.profiles import ShiftedLogits
from tests.decoding.test_exactness import left_padded, prompts
from tests.decoding.tiny import EOS, MASK, TinyMDLM

IDS = dict(mask_id=MASK, eos_token_ids=[EOS])
ALGS = {"maskgit_plus": "low_confidence", "topk_margin": "margin", "entropy": "entropy"}


class WideVocab(torch.nn.Module):
    """TinyMDLM's logits followed by 40 more tokens (a vocabulary of 88, so that top_k = 50 truncates); token
    48 + i reads as token i."""

    def __init__(self):
        super().__init__()
        self.inner = TinyMDLM(seed=3)
        self.config = SimpleNamespace(vocab_size=88)

    def forward(self, input_ids, attention_mask=None):
        logits = self.inner(input_ids % 48, attention_mask=attention_mask).logits
        return SimpleNamespace(logits=torch.cat([logits, logits[..., :40].flip(-1) - 0.3], dim=-1))


def ours(model, ids, preset, seed, **kw):
    return decode(ShiftedLogits(model), ids, preset, seeds=[seed], **IDS, **kw)


def theirs(model, ids, seed, **kw):
    torch.manual_seed(seed)  # Dream draws from the global RNG
    return dream_generate(model, ids, mask_id=MASK, **kw)


@pytest.mark.parametrize("alg", ["maskgit_plus", "topk_margin", "entropy", "origin"])
@pytest.mark.parametrize("steps", [16, 8, 4])
@pytest.mark.parametrize("temperature,top_p,top_k", [(0.0, None, None), (0.0, 0.8, 5), (1.3, None, None),
                                                     (0.5, 0.95, 6)])
def test_dream_sampler_matches_sample_at_batch_1(alg, steps, temperature, top_p, top_k):
    model = TinyMDLM(seed=3, eos_bias=3.0)
    ids = prompts(1, 5, seed=steps)
    kw = dict(gen_length=16, steps=steps, temperature=temperature, top_p=top_p, top_k=top_k)
    expected = theirs(model, ids, 21, alg=alg, **kw)
    preset = "dream_origin" if alg == "origin" else "dream_" + alg
    model.calls = 0
    out = ours(model, ids, preset, 21, **kw)
    assert torch.equal(out.sequences, expected)
    if alg != "origin":
        assert out.nfe == model.calls == steps


def test_sampling_and_truncation_change_the_decode():
    """The cases above can fail: temperature draws other tokens, and top_p changes the confidence at T = 0."""
    model, ids = TinyMDLM(seed=3), prompts(1, 5)
    base = ours(model, ids, "dream_maskgit_plus", 1, gen_length=16).sequences
    assert not torch.equal(base, ours(model, ids, "dream_maskgit_plus", 1, gen_length=16, temperature=1.0).sequences)
    truncated = ours(model, ids, "dream_maskgit_plus", 1, gen_length=16, steps=4, top_p=0.5).sequences
    assert not torch.equal(ours(model, ids, "dream_maskgit_plus", 1, gen_length=16, steps=4).sequences, truncated)


@pytest.mark.parametrize("preset,alg,kw", [
    ("dream_maskgit_plus", "maskgit_plus", dict()),
    ("dream_topk_margin", "topk_margin", dict()),
    ("dream_entropy", "entropy", dict()),
    ("dream_origin", "origin", dict()),
    ("dream_instruct_eval", "entropy", dict(temperature=0.1, top_p=0.9)),
])
def test_presets_match_sample_at_their_defaults(preset, alg, kw):
    spec = load_spec(preset)
    assert (spec.sampler, spec.steps, spec.eps, spec.temperature, spec.top_p, spec.top_k) == (
        "dream", "full", 1e-3, kw.get("temperature", 0.0), kw.get("top_p"), None)
    model = TinyMDLM(seed=3, eos_bias=3.0)
    ids = prompts(1, 4)
    expected = theirs(model, ids, 5, alg=alg, gen_length=16, steps=16, **kw)
    assert torch.equal(ours(model, ids, preset, 5, gen_length=16).sequences, expected)


def test_bare_diffusion_generate_top_k_50_is_an_override():
    """`diffusion_generate` called without top_k takes top_k = 50 from transformers 4.x's defaults."""
    model, ids = WideVocab(), prompts(1, 5)
    kw = dict(gen_length=16, steps=16, temperature=1.0)
    expected = theirs(model, ids, 3, alg="entropy", top_k=50, **kw)
    out = ours(model, ids, "dream_entropy", 3, top_k=50, **kw).sequences
    assert torch.equal(out, expected)
    assert not torch.equal(out, ours(model, ids, "dream_entropy", 3, **kw).sequences)


@pytest.mark.parametrize("preset", ["dream_instruct_eval", "dream_origin"])
def test_padded_rows_sample_as_alone(preset):
    model = ShiftedLogits(TinyMDLM(seed=3))
    ids, mask = left_padded()
    kw = dict(gen_length=16, temperature=0.8, top_k=6, **IDS)
    batched = decode(model, ids, preset, attention_mask=mask, seeds=[4, 5, 6], **kw)
    for row, pad in enumerate((0, 2, 4)):
        alone = decode(model, ids[row: row + 1, pad:], preset, seeds=[4 + row], **kw)
        assert torch.equal(batched.sequences[row, pad:], alone.sequences[0])
        assert batched.nfe_per_row[row] == alone.nfe


def test_llada_sampler_truncates_the_draw_only():
    """Under the llada sampler top_k = 1 makes sampling greedy; at temperature 0 truncation changes nothing."""
    model, ids = TinyMDLM(seed=3), prompts(2, 5)
    kw = dict(gen_length=16, steps=8, seeds=[1, 2], **IDS)
    greedy = decode(model, ids, "full_diffusion", **kw).sequences
    assert torch.equal(decode(model, ids, "full_diffusion", temperature=2.0, top_k=1, **kw).sequences, greedy)
    assert torch.equal(decode(model, ids, "full_diffusion", top_p=0.3, top_k=2, **kw).sequences, greedy)
    assert not torch.equal(decode(model, ids, "full_diffusion", temperature=2.0, top_k=3, **kw).sequences, greedy)


@pytest.mark.parametrize("kw,message", [
    (dict(top_k=0), "top_k must be >= 1 (or none), got 0"),
    (dict(top_p=0), "top_p must be in (0, 1] (or none), got 0.0"),
    (dict(top_p=1.5), "top_p must be in (0, 1] (or none), got 1.5"),
    (dict(sampler="nucleus"), "sampler 'nucleus' is unknown; choose one of llada, dream"),
])
def test_bad_sampler_settings(kw, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        load_spec("dream_entropy").with_overrides(**kw)


def test_decoders_lists_the_dream_presets_at_steps_l(monkeypatch, capsys):
    from tests.cli_helpers import run_cli

    code, stdout, _ = run_cli(monkeypatch, capsys, "decoders", "--gen-lengths", "64")
    assert code == 0
    cells = [line.split()[:2] for line in stdout.splitlines() if line.startswith("dream")]
    rows = dict(cells)
    assert rows == {"dream_entropy": "64", "dream_instruct_eval": "64", "dream_maskgit_plus": "64",
                    "dream_origin": "64", "dream_topk_margin": "64"}
