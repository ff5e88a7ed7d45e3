"""The native Dream model against Dream's own modeling code, on a tiny random-weight fixture (see its README);
loading Dream folders; Dream's end-of-turn token."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from mdlm_eval.decoding.cache import BlockForward, CachedForward
from mdlm_eval.errors import UsageError
from mdlm_eval.models import load_model
from mdlm_eval.models.dream import DreamModel
from mdlm_eval.models.dream.own_code import DreamOwnCode
from mdlm_eval.models.profiles import ShiftedLogits, end_of_turn_id

from tests.models.dream_checkpoint import FIXTURE, IM_END, dream_tokenizer, make_dream_folder

ATOL = dict(atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def model():
    return DreamModel.from_pretrained(FIXTURE, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def ref():
    return load_file(FIXTURE / "reference.safetensors")


@pytest.fixture()
def dream_folder(tmp_path):
    return make_dream_folder(tmp_path / "dream")


@torch.no_grad()
def test_logits_equal_dreams_own_code(model, ref):
    assert torch.allclose(model(ref["ids"]).logits, ref["logits"], **ATOL)


@torch.no_grad()
def test_padded_batch_equals_dreams_sampler_inputs_and_the_row_alone(model, ref):
    """A 2-D padding mask gives what Dream's code gives with its sampler's [B,1,T,T] mask and cumsum-1 positions,
    which is the row alone; the 4-D mask and position ids are taken as Dream's sampler passes them."""
    x, m = ref["padded_ids"], ref["padded_mask"]
    out = model(x, attention_mask=m).logits
    assert torch.allclose(out[1:, 3:], ref["padded_logits"][1:, 3:], **ATOL)
    assert torch.allclose(out[1:, 3:], ref["row1_alone_logits"], **ATOL)
    assert torch.allclose(out[0], ref["logits"][0], **ATOL)
    four_d = model(x, attention_mask=ref["padded_mask_4d"], position_ids=ref["padded_position_ids"]).logits
    assert torch.allclose(four_d[1:, 3:], ref["padded_logits"][1:, 3:], **ATOL)
    assert not four_d.isnan().any()
    unmasked = model(x).logits  # the padding matters: without the mask row 1 differs
    assert not torch.allclose(unmasked[1:, 3:], ref["row1_alone_logits"], atol=1e-3)


@torch.no_grad()
def test_cached_windows_equal_the_full_forward(model, ref):
    """Prefix (window to the end) and dual (window = block) forwards from the cache of the same padded canvas."""
    x, m = ref["padded_ids"], ref["padded_mask"]
    full = model(x, attention_mask=m, use_cache=True)
    for start, end in ((6, 9), (6, 12)):
        window = model(x[:, start:end], attention_mask=m, past_key_values=full.past_key_values, window_start=start)
        assert torch.allclose(window.logits, full.logits[:, start:end], **ATOL)
    ranged = model(x[:, 6:], attention_mask=m, past_key_values=full.past_key_values, window_start=6,
                   logits_range=(7, 9)).logits
    assert torch.allclose(ranged, full.logits[:, 7:9], **ATOL)


@torch.no_grad()
def test_shifted_logits_of_a_block_equal_the_shifted_full_forward(model, ref):
    """The one realignment (logits i = output i-1) holds for block-only logits and cached windows too."""
    x, m = ref["padded_ids"], ref["padded_mask"]
    shifted = ShiftedLogits(model)
    whole = shifted(x, attention_mask=m).logits
    raw = model(x, attention_mask=m).logits
    assert torch.equal(whole[:, 1:], raw[:, :-1]) and torch.equal(whole[:, 0], raw[:, 0])
    for mode, (start, end) in (("prefix", (8, 10)), ("dual", (8, 10)), ("prefix", (0, 4))):
        block = BlockForward(shifted)(x, m, start, end, True)[0]
        assert torch.allclose(block, whole[:, start:end], **ATOL)
        cached = CachedForward(shifted, mode)
        cached(x, m, start, end, True)
        assert torch.allclose(cached(x, m, start, end, False)[0], whole[:, start:end], **ATOL)


def test_load_model_uses_the_native_class_with_dreams_token_ids(dream_folder):
    lm = load_model(str(dream_folder), dtype="float32")
    assert isinstance(lm.model, ShiftedLogits) and isinstance(lm.model.model, DreamModel)
    assert lm.family.name == "dream" and lm.ids.mask_id == 2 and lm.ids.eos_id == 0
    assert lm.ids.eot_id == lm.tokenizer.convert_tokens_to_ids(IM_END)
    assert lm.ids.stop_ids() == [0, lm.ids.eot_id]
    assert lm.ids.eos_ids_for("confidence_eos_eot_inf") == [0, lm.ids.eot_id]


def test_end_of_turn_comes_from_the_chat_template():
    tok = dream_tokenizer()
    assert end_of_turn_id(tok) == tok.convert_tokens_to_ids(IM_END)
    tok.chat_template = tok.chat_template.replace("+ '<|im_end|>' +", "+ '<|endoftext|>' +")
    assert end_of_turn_id(tok) == tok.eos_token_id
    tok.chat_template = None  # no template: the known end-of-turn names
    assert end_of_turn_id(tok) == tok.convert_tokens_to_ids(IM_END)


def test_native_false_on_a_transformers_dreams_code_cannot_run_names_the_versions(dream_folder, monkeypatch):
    import transformers

    def rotary_init_of_5x(*args, **kwargs):
        raise KeyError("default")  # what Dream's rotary init meets on transformers 5

    for name in ("configuration_dream.py", "modeling_dream.py"):  # the code auto_map names (never run here)
        (dream_folder / name).write_text("")
    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", rotary_init_of_5x)
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", lambda *a, **k: DreamModel.config_class())
    with pytest.raises(UsageError, match=r"does not run on transformers .*KeyError: 'default'.*4\.46 to 4\.57"):
        load_model(str(dream_folder), native=False)


@torch.no_grad()
def test_own_code_gets_dreams_sampler_inputs(ref):
    """native=false: the 2-D padding mask becomes the sampler's [B,1,T,T] mask and cumsum-1 positions."""
    seen = {}

    class Recorder(torch.nn.Module):
        config = None

        def forward(self, input_ids, attention_mask, position_ids):
            seen.update(mask=attention_mask, positions=position_ids)
            return type("Out", (), {"logits": torch.ones(*input_ids.shape, 4)})()

    own = DreamOwnCode(Recorder())
    out = own(ref["padded_ids"], attention_mask=ref["padded_mask"])
    assert torch.equal(seen["mask"], ref["padded_mask_4d"])
    assert torch.equal(seen["positions"], ref["padded_position_ids"])
    assert out.logits[1, :3].eq(0).all() and out.logits[1, 3:].eq(1).all()
    own(ref["ids"], attention_mask=torch.ones_like(ref["ids"]))
    assert seen["mask"] == "full" and seen["positions"] is None


def test_mismatching_weights_name_the_parameter(dream_folder):
    weights = load_file(dream_folder / "model.safetensors")
    weights["model.layers.1.mlp.up_proj.weight"] = weights["model.layers.1.mlp.up_proj.weight"][:8]
    save_file(weights, dream_folder / "model.safetensors")
    with pytest.raises(UsageError, match=r"Dream checkpoint .*parameter model\.layers\.1\.mlp\.up_proj\.weight has "
                                         r"shape \[8, 32\].*native=false"):
        load_model(str(dream_folder))


def test_unsupported_architecture_suggests_native_false(tmp_path):
    folder = make_dream_folder(tmp_path / "dream", rope_scaling={"rope_type": "yarn", "factor": 4.0})
    with pytest.raises(UsageError, match="rope_scaling=.*yarn.*native=false"):
        load_model(str(folder))


def test_dream_7b_sizes_give_the_published_parameter_layout():
    """Dream-v0-7B's config (Qwen2.5-7B sizes: 28 layers, 28 query and 4 key/value heads, untied lm_head): the
    native class has the published checkpoints' 28 * 12 + 3 tensors with their shapes."""
    from mdlm_eval.models.dream import DreamConfig

    config = DreamConfig(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                         num_attention_heads=28, num_key_value_heads=4, rope_theta=1e6)
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in DreamModel(config).state_dict().items()}
    assert shapes["model.layers.27.self_attn.k_proj.weight"] == (512, 3584)
    assert shapes["model.layers.0.self_attn.q_proj.bias"] == (3584,)
    assert shapes["lm_head.weight"] == (152064, 3584) and len(shapes) == 28 * 12 + 3


def test_answers_stop_at_dreams_end_of_turn(dream_folder):
    """Text up to the first `<|im_end|>` (or EOS) when special tokens are skipped; the whole canvas otherwise."""
    from mdlm_eval.lm_eval_model import MDLMLM

    lm = MDLMLM(pretrained=str(dream_folder), decoder="semi_ar", batch_size=1)
    tok = lm.tokenizer
    tokens = torch.tensor(tok("42", add_special_tokens=False)["input_ids"] + [tok.convert_tokens_to_ids(IM_END)]
                          + tok("7", add_special_tokens=False)["input_ids"] + [tok.eos_token_id])
    assert lm.to_text(tokens, [], skip_special_tokens=True) == "42"
    assert lm.to_text(tokens, [], skip_special_tokens=False) == "42<|im_end|>7<|endoftext|>"
