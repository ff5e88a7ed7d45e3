"""DiffusionGemma's canvases (`mdlm_eval.decoding.uniform_canvas`, preset `diffusion_gemma`) against transformers' own
`DiffusionGemmaForBlockDiffusion.generate` on a tiny random model (`tests/models/diffusion_gemma_checkpoint.py`):
the same tokens and the same encoder and decoder passes at batch 1, each row of a left-padded batch as alone, and
one line for a decoder that needs a mask token."""
import pytest
import torch

from mdlm_eval.decoding import decode, load_spec
from mdlm_eval.errors import UsageError
from tests.models.diffusion_gemma_checkpoint import CANVAS, tiny_model

PROMPTS = ([2, 5, 6, 7, 9], [2, 11, 12], [2, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39])  # 3 to 11 tokens
EOS, PAD, L = 19, 0, 20  # EOS: a token the random model often gives, so rows end after 1, 2 or 3 canvases
# the preset at 6 passes per canvas; and a stopping rule that fires (the random model's argmax never settles, so
# stability 0; a mean entropy below 0.4 nats comes after a few passes, at a different pass in each canvas)
SETTINGS = {"preset": {}, "early_stop": dict(stability_threshold=0, confidence_threshold=0.4)}


@pytest.fixture(scope="module")
def model():
    return tiny_model()


class Passes:
    """Counts the encoder and decoder passes of a DiffusionGemma model (hooks on its two halves)."""

    def __init__(self, model):
        self.encoder = self.decoder = 0
        self.handles = [model.model.encoder.register_forward_hook(lambda *_: self.add("encoder")),
                        model.model.decoder.register_forward_hook(lambda *_: self.add("decoder"))]

    def add(self, which: str) -> None:
        setattr(self, which, getattr(self, which) + 1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()


def test_preset_is_generate_defaults():
    from transformers.models.diffusion_gemma.generation_diffusion_gemma import DiffusionGemmaGenerationConfig

    defaults = DiffusionGemmaGenerationConfig._get_default_generation_params()
    spec = load_spec("diffusion_gemma")
    assert (spec.commit, spec.steps, spec.gamma, spec.t_min, spec.t_max, spec.stability_threshold,
            spec.confidence_threshold) == (
        "renoise", defaults["max_denoising_steps"], defaults["sampler_config"].entropy_bound, defaults["t_min"],
        defaults["t_max"], defaults["stability_threshold"], defaults["confidence_threshold"])


@pytest.mark.parametrize("setting", sorted(SETTINGS))
@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("prompt", PROMPTS, ids=lambda p: f"P{len(p)}")
def test_batch_1_is_transformers_generate(model, prompt, seed, setting):
    ids = torch.tensor([prompt])
    fields = SETTINGS[setting]
    with Passes(model) as ref_passes:
        torch.manual_seed(seed)
        ref = model.generate(ids, max_new_tokens=L, eos_token_id=[EOS], pad_token_id=PAD, max_denoising_steps=6,
                             **fields).sequences[0, len(prompt):]
    with Passes(model) as passes:
        out = decode(model, ids, "diffusion_gemma", gen_length=L, steps=6, eos_token_ids=[EOS], seeds=[seed],
                     **fields)
    tokens = out.sequences[0, len(prompt):]
    assert out.sequences.shape == (1, len(prompt) + L)
    assert tokens[:len(ref)].tolist() == ref[:L].tolist()  # generate stops after the canvas with EOS
    assert (tokens[len(ref):] == PAD).all()
    assert out.nfe_per_row == [passes.decoder] == [ref_passes.decoder] == [out.nfe]
    assert out.encoder_passes_per_row == [passes.encoder] == [ref_passes.encoder]


def test_the_stop_fires_and_eos_ends_rows_at_different_canvases(model):
    """What the exactness tests cover: early stops (fewer than 6 passes a canvas), rows ending at each canvas."""
    runs = {name: [decode(model, torch.tensor([p]), "diffusion_gemma", gen_length=L, steps=6, eos_token_ids=[EOS],
                          seeds=[s], **fields) for p in PROMPTS for s in (0, 7)] for name, fields in SETTINGS.items()}
    assert all(r.nfe == 6 * r.encoder_passes_per_row[0] for r in runs["preset"])  # never stable on random weights
    assert any(r.nfe < 6 * r.encoder_passes_per_row[0] for r in runs["early_stop"])
    assert {r.encoder_passes_per_row[0] for r in runs["preset"] + runs["early_stop"]} == {1, 2, 3}


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_each_row_of_a_padded_batch_decodes_as_alone(model, setting):
    width = max(map(len, PROMPTS))
    ids = torch.tensor([[PAD] * (width - len(p)) + p for p in PROMPTS])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in PROMPTS])
    kwargs = dict(gen_length=L, steps=6, eos_token_ids=[EOS], **SETTINGS[setting])
    batch = decode(model, ids, "diffusion_gemma", attention_mask=mask, seeds=[3, 4, 5], **kwargs)
    for row, prompt in enumerate(PROMPTS):
        alone = decode(model, torch.tensor([prompt]), "diffusion_gemma", seeds=[3 + row], **kwargs)
        assert batch.sequences[row, width:].tolist() == alone.sequences[0, len(prompt):].tolist()
        assert batch.nfe_per_row[row] == alone.nfe
        assert batch.encoder_passes_per_row[row] == alone.encoder_passes_per_row[0]
    assert max(batch.nfe_per_row) <= batch.nfe < sum(batch.nfe_per_row)  # the rows share passes
    assert len(set(batch.nfe_per_row)) > 1  # rows leave the batch at different times


def test_a_row_draws_from_its_own_seed(model):
    ids = torch.tensor([PROMPTS[0]] * 2)
    out = decode(model, ids, "diffusion_gemma", gen_length=CANVAS, steps=6, eos_token_ids=[EOS], seeds=[1, 2])
    again = decode(model, ids[:1], "diffusion_gemma", gen_length=CANVAS, steps=6, eos_token_ids=[EOS], seeds=[2])
    assert out.sequences[1].tolist() == again.sequences[0].tolist() != out.sequences[0].tolist()


@pytest.mark.parametrize("decoder, overrides, message", [
    ("semi_ar", {}, "decoder semi_ar (commit count) needs a mask token; diffusion_gemma has none"),
    ("eb_sampler", {}, "decoder eb_sampler (commit eb) needs a mask token"),
    ("diffusion_gemma", {"cache": "dual"}, "decoder diffusion_gemma: cache=dual does not apply to commit renoise"),
    ("diffusion_gemma", {"block_length": 4}, "decoder diffusion_gemma: block_length=4 does not apply"),
    ("diffusion_gemma", {"temperature": 0.5}, "decoder diffusion_gemma: temperature=0.5 does not apply"),
    ("diffusion_gemma", {"trace": True}, "decoder diffusion_gemma records no unmasking trace"),
    ("diffusion_gemma", {"eos_token_ids": [64]}, "eos_token_ids [64] is outside the model's vocabulary of 64"),
    ("diffusion_gemma", {"seeds": [1, 2]}, "seeds has 2 entries for a batch of 1"),
])
def test_bad_input_is_one_line_before_any_pass(model, decoder, overrides, message):
    kwargs = dict(gen_length=CANVAS, eos_token_ids=[EOS]) | overrides
    with Passes(model) as passes, pytest.raises(UsageError) as error:
        decode(model, torch.tensor([PROMPTS[0]]), decoder, **kwargs)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
    assert passes.encoder == passes.decoder == 0


def test_renoise_on_a_mask_model_is_one_line():
    from tests.decoding.tiny import TinyMDLM

    with pytest.raises(UsageError, match=r"^decoder diffusion_gemma \(commit renoise\) is for models without a mask"):
        decode(TinyMDLM(), torch.tensor([[1, 2, 3]]), "diffusion_gemma", gen_length=8, mask_id=0, eos_token_ids=[1])


def test_spec_checks_its_fields():
    for fields, message in (({"t_min": 0.9}, "need 0 <= t_min < t_max"), ({"confidence_threshold": 0}, "confidence"),
                            ({"stability_threshold": -1}, "stability_threshold must be >= 0"),
                            ({"gamma": 0}, "commit renoise needs gamma > 0")):
        with pytest.raises(UsageError, match=message):
            load_spec("diffusion_gemma").with_overrides(**fields)
