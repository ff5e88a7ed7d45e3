"""Bad input is refused with a UsageError before any forward pass."""
import re

import pytest
import torch

from mdlm_eval import decode, load_spec
from mdlm_eval.errors import UsageError
from tests.decoding.tiny import EOS, MASK, TinyMDLM


@pytest.mark.parametrize("kwargs,message", [
    (dict(decoder="nope"), "unknown decoder 'nope'"),
    (dict(steps=0), "steps must be between 1"),
    (dict(steps=33), "steps must be between 1"),
    (dict(steps="lots"), "steps 'lots'"),
    (dict(gen_length=0), "gen_length must be >= 1"),
    (dict(block_length=5), "block_length 5 must be a positive divisor"),
    (dict(decoder="ass", block_num=9), "block_num must be between 1 and steps"),
    (dict(decoder="ass", steps=4), "take exactly floor(log2 32) = 5 steps"),
    (dict(temperature=-1), "temperature must be >= 0"),
    (dict(mask_id=500), "outside the model's vocabulary"),
    (dict(remasking="sideways"), "remasking 'sideways' is unknown"),
    (dict(block_size=4), "unknown field block_size"),
    (dict(eos_policy="eoser", eos_token_ids=[]), "needs at least one id"),
    (dict(commit="greedy"), "commit 'greedy' is unknown; choose one of count, threshold"),
    (dict(decoder="threshold", threshold=0), r"threshold must be in (0, 1]"),
    (dict(decoder="threshold", threshold=1.5), r"threshold must be in (0, 1]"),
    (dict(decoder="factor", factor=0), "factor must be > 0"),
    (dict(decoder="eb_sampler", gamma=-0.1), "gamma must be >= 0"),
    (dict(decoder="dream_entropy", eps=1), r"eps must be in (0, 1)"),
    (dict(decoder="dream_entropy", alg_temp=-1), "alg_temp must be >= 0"),
    (dict(decoder="dream_entropy", block_length=8), "decodes the canvas as one block"),
    (dict(decoder="threshold", steps=0), "steps (the cap of an adaptive rule) must be >= 1"),
    (dict(decoder="threshold", steps=1, block_length=8), "fewer than the 4 blocks"),
    (dict(decoder="threshold", block_length=5), "block_length 5 must be a positive divisor"),
    (dict(decoder="threshold", schedule="ascending"), "schedule ascending belongs to the count rule"),
    (dict(commit="count", steps=None, decoder="threshold"), "commit rule count needs steps"),
])
def test_bad_arguments(kwargs, message):
    model = TinyMDLM()
    args = dict(decoder="semi_ar", gen_length=32, mask_id=MASK, eos_token_ids=[EOS]) | kwargs
    with pytest.raises(UsageError, match=re.escape(message.replace("\\", ""))):
        decode(model, torch.tensor([[3, 4, 5]]), args.pop("decoder"), **args)
    assert model.calls == 0


def test_prompt_with_mask_tokens_is_refused():
    model = TinyMDLM()
    with pytest.raises(UsageError, match="already contains the mask token"):
        decode(model, torch.tensor([[3, MASK, 5]]), "semi_ar", gen_length=32, mask_id=MASK, eos_token_ids=[EOS])
    assert model.calls == 0


def test_preset_yaml_with_unknown_field(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("schedule: uniform\nblock_len: 8\n")
    with pytest.raises(UsageError, match="unknown field block_len .* valid fields: name, description"):
        load_spec(bad)
    bad.write_text("schedule: [unclosed\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_spec(bad)


def test_custom_preset_file(tmp_path):
    mine = tmp_path / "wide.yaml"
    mine.write_text("schedule: uniform\nblock_length: 16\nsteps: full\nremasking: margin\n")
    spec = load_spec(mine)
    assert (spec.name, spec.block_length, spec.remasking) == ("wide", 16, "margin")
    out = decode(TinyMDLM(), torch.tensor([[3, 4]]), mine, gen_length=32, mask_id=MASK, eos_token_ids=[EOS])
    assert out.nfe == 32
