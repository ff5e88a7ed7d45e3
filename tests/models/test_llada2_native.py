"""The native LLaDA2 MoE model against LLaDA2's own modeling code, on a tiny random-weight fixture (see its README)."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from mdlm_eval.errors import UsageError
from mdlm_eval.models import load_model
from mdlm_eval.models.llada2 import Llada2MoeModelLM
from mdlm_eval.models.loading import resolve_pretrained

FIXTURE = Path(__file__).parent / "fixtures" / "llada2_tiny"
TOY_TOKENIZER = ("tokenizer.json", "tokenizer_config.json")
PAD = 62


@pytest.fixture(scope="module")
def model():
    return Llada2MoeModelLM.from_pretrained(FIXTURE, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def ref():
    return load_file(FIXTURE / "reference.safetensors")


@pytest.fixture()
def llada2_folder(tmp_path):
    """The fixture as a loadable folder: its config and weights (no modeling code) plus the toy's tokenizer."""
    folder = tmp_path / "llada2"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(FIXTURE / name, folder / name)
    for name in TOY_TOKENIZER:
        shutil.copy(Path(resolve_pretrained("toy")[0]) / name, folder / name)
    return folder


def padded(ref, pad: int = 3):
    """Row 1 left-padded by `pad`, row 0 followed by nothing (both rows keep all their tokens)."""
    ids = ref["ids"]
    x = torch.cat([torch.full((2, pad), PAD), ids], dim=1)
    x[0] = torch.cat([ids[0], torch.full((pad,), PAD)])
    m = torch.ones_like(x)
    m[1, :pad] = 0
    m[0, -pad:] = 0
    return x, m


@torch.no_grad()
def test_logits_equal_the_reference_under_its_block_mask(model, ref):
    """Blocks of 4 over 12 positions (the mask LLaDA2's generate builds), and of 8 (the last block cut short)."""
    assert torch.allclose(model(ref["ids"], block_length=4).logits, ref["logits"], atol=1e-5, rtol=0)
    assert torch.allclose(model(ref["ids"], block_length=8).logits, ref["logits_block8"], atol=1e-5, rtol=0)
    assert not torch.allclose(model(ref["ids"], block_length=12).logits, ref["logits"], atol=1e-2)


@torch.no_grad()
def test_bfloat16_equals_the_reference_loaded_in_bfloat16(ref):
    """The checkpoint loaded in bfloat16 and called as `generate` calls it (bfloat16 additive block mask): the
    same bits on the machine that made the fixture; a tolerance of about one bfloat16 step elsewhere (a model
    whose rotary frequencies were rounded to bfloat16 is off by up to 0.095 and fails it)."""
    half = Llada2MoeModelLM.from_pretrained(FIXTURE, dtype=torch.bfloat16).eval()
    out = half(ref["ids"], block_length=4).logits
    assert out.dtype == torch.float32
    assert torch.allclose(out, ref["logits_bf16"], atol=1e-2, rtol=2 ** -7)


@torch.no_grad()
def test_generate_inputs_four_d_mask_and_position_ids(model, ref):
    """LLaDA2's `generate` passes a [1, 1, T, T] mask (0 / -inf, as it is and as a boolean) and `position_ids`."""
    for mask in (ref["block_mask"], ref["block_mask"] == 0):
        out = model(ref["ids"], attention_mask=mask.expand(2, 1, 12, 12), position_ids=torch.arange(12)[None]).logits
        assert torch.allclose(out, ref["logits"], atol=1e-5, rtol=0)


@torch.no_grad()
def test_float64_agrees_and_default_block_is_the_config_block(ref):
    double = Llada2MoeModelLM.from_pretrained(FIXTURE, dtype=torch.float64).eval()
    assert double.trained_block_length == 32 and double.block_causal
    assert double(ref["ids"], block_length=4).logits.dtype == torch.float64
    assert torch.allclose(double(ref["ids"], block_length=4).logits.float(), ref["logits"], atol=1e-4, rtol=0)
    assert torch.equal(double(ref["ids"]).logits, double(ref["ids"], block_length=32).logits)


@torch.no_grad()
def test_padded_rows_give_the_logits_of_the_rows_alone(model, ref):
    """Left padding of row 1 and right padding of row 0: positions and blocks count real tokens only."""
    x, m = padded(ref)
    out = model(x, attention_mask=m, block_length=4).logits
    assert torch.allclose(out[1, 3:], ref["logits"][1], atol=1e-5, rtol=0)
    assert torch.allclose(out[0, :12], ref["logits"][0], atol=1e-5, rtol=0)


@torch.no_grad()
def test_block_by_block_with_the_cache_equals_the_full_forward(model, ref):
    """The protocol's cached forward: each window attends the appended (K, V) of the blocks before it (row 1
    left-padded by one block, so the windows end on both rows' block boundaries)."""
    x = ref["ids"].clone()
    x[1] = torch.cat([torch.full((4,), PAD), ref["ids"][1, :8]])
    m = torch.ones_like(x)
    m[1, :4] = 0
    full = model(x, attention_mask=m, block_length=4).logits
    for windows in (((0, 4), (4, 8), (8, 12)), ((0, 8), (8, 12))):
        cache = None
        for start, end in windows:
            out = model(x[:, start:end], attention_mask=m[:, :end], past_key_values=cache, window_start=start,
                        block_length=4, use_cache=True)
            real = m[:, start:end].bool()  # padded positions' logits are not compared
            assert torch.allclose(out.logits[real], full[:, start:end][real], atol=1e-5, rtol=0)
            assert torch.isfinite(out.logits).all()
            present = out.past_key_values
            cache = present if cache is None else tuple(
                tuple(torch.cat([c, p], dim=2) for c, p in zip(old, new)) for old, new in zip(cache, present))
        assert cache[0][0].shape[2] == x.shape[1]
    window = model(x[:, 4:12], attention_mask=m, past_key_values=cache, window_start=4, block_length=4,
                   logits_range=(8, 12)).logits
    assert torch.allclose(window, full[:, 8:12], atol=1e-5, rtol=0)
    assert torch.isfinite(full).all()


@torch.no_grad()
def test_a_sub_block_window_reads_the_rest_of_its_block_from_the_cache(model, ref):
    """A window inside a block (Fast-dLLM v2-style sub-block) attends the cached keys after it in the block."""
    x = ref["ids"]
    full = model(x, block_length=8, use_cache=True)
    window = model(x[:, 8:10], attention_mask=torch.ones_like(x), past_key_values=full.past_key_values,
                   window_start=8, block_length=8).logits
    assert torch.allclose(window, full.logits[:, 8:10], atol=1e-5, rtol=0)
    cut = model(x[:, 8:10], attention_mask=torch.ones_like(x[:, :10]), past_key_values=full.past_key_values,
                window_start=8, block_length=8).logits  # the mask stops at the window: keys after it unseen
    assert not torch.allclose(cut, full.logits[:, 8:10], atol=1e-3)


def test_a_window_without_its_cache_is_refused(model, ref):
    with pytest.raises(ValueError, match="needs past_key_values"):
        model(ref["ids"][:, 4:], window_start=4)
    pkv = model(ref["ids"][:, :4], use_cache=True).past_key_values
    with pytest.raises(ValueError, match="the cache holds 4 positions; the window starts at 6"):
        model(ref["ids"][:, 6:], past_key_values=pkv, window_start=6)


@torch.no_grad()
def test_own_code_wrapper_gives_llada2s_additive_block_mask(model, ref):
    """`native=false`'s wrapper feeds LLaDA2's code the mask its `generate` builds (additive: 0 or the lowest value)
    with real positions; checked on the native model, which takes that 4-D mask too."""
    from mdlm_eval.models.sdar.own_code import BlockDiffusionOwnCode

    x, m = padded(ref)
    own = BlockDiffusionOwnCode(model, "llada2")(x, attention_mask=m).logits
    native = model(x, attention_mask=m).logits
    assert torch.allclose(own[1, 3:], native[1, 3:], atol=1e-5, rtol=0) and torch.equal(own[1, :3], torch.zeros(3, 64))
    assert torch.allclose(own[0, :-3], native[0, :-3], atol=1e-5, rtol=0)


def test_activation_checkpointing_gives_the_same_gradients(ref):
    grads = []
    for checkpointing in (False, True):
        m = Llada2MoeModelLM.from_pretrained(FIXTURE, dtype=torch.float32).train()
        if checkpointing:
            m.activation_checkpointing_enable()
        m(ref["ids"], block_length=4).logits.logsumexp(-1).sum().backward()
        grads.append(m.model.layers[1].mlp.experts[0].up_proj.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-6) and grads[0].abs().sum() > 0


def test_load_model_recognises_the_family_from_config(llada2_folder):
    lm = load_model(str(llada2_folder), dtype="float32")
    assert isinstance(lm.model, Llada2MoeModelLM)
    assert lm.family.name == "llada2" and lm.ids.mask_id == 63 and lm.ids.eos_id == 60


def test_the_family_ids_when_config_and_tokenizer_name_none():
    """LLaDA2's tokenizer declares no mask token: the family's 156895 (`<|mask|>`, LLaDA2's generate `mask_id`)."""
    from types import SimpleNamespace

    from mdlm_eval.models.profiles import END_OF_TURN_NAMES, family_of

    for model_type in ("llada2_moe", "LLaDA2_moe"):
        fam = family_of(SimpleNamespace(model_type=model_type))
        assert fam.name == "llada2" and fam.mask_id == 156895 and not fam.shift_logits
    assert family_of(SimpleNamespace(model_type="x"), override="llada2").mask_id == 156895
    assert "<|role_end|>" in END_OF_TURN_NAMES


def test_native_false_runs_the_checkpoint_code(llada2_folder):
    with pytest.raises(UsageError, match="lacks configuration_llada2_moe.py, named by auto_map"):
        load_model(str(llada2_folder), native=False)


def test_mismatching_weights_name_the_parameter(llada2_folder):
    weights = load_file(llada2_folder / "model.safetensors")
    name = "model.layers.2.mlp.experts.5.up_proj.weight"
    weights[name] = weights[name][:8]
    save_file(weights, llada2_folder / "model.safetensors")
    with pytest.raises(UsageError, match=r"LLaDA2 checkpoint .*parameter model\.layers\.2\.mlp\.experts\.5\.up_proj"
                                         r"\.weight has shape \[8, 32\].*native=false"):
        load_model(str(llada2_folder))


def test_a_missing_expert_bias_is_named(llada2_folder):
    weights = load_file(llada2_folder / "model.safetensors")
    del weights["model.layers.1.mlp.gate.expert_bias"]
    save_file(weights, llada2_folder / "model.safetensors")
    with pytest.raises(UsageError, match=r"parameter model\.layers\.1\.mlp\.gate\.expert_bias is missing"):
        load_model(str(llada2_folder))


def test_unsupported_rope_scaling_suggests_native_false(llada2_folder):
    config = json.loads((llada2_folder / "config.json").read_text())
    config["rope_scaling"] = {"rope_type": "yarn", "factor": 4.0}
    (llada2_folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UsageError, match="rope_scaling=.*yarn.*native=false"):
        load_model(str(llada2_folder))


def test_llada21_is_told_from_llada20_by_what_its_own_generate_takes(llada2_folder):
    """The hub's LLaDA2.0 and 2.1 both name model_type llada2_moe; 2.1's own `generate` takes `editing_threshold`.
    Copies of 2.1's code name model_type llada21_moe."""
    assert not load_model(str(llada2_folder), dtype="float32").model.token_editing
    (llada2_folder / "modeling_llada2_moe.py").write_text(
        "def generate(self, inputs, threshold=0.95, editing_threshold=0.9, max_post_steps=16): ...\n")
    assert load_model(str(llada2_folder), dtype="float32").model.token_editing
    (llada2_folder / "modeling_llada2_moe.py").unlink()
    config = json.loads((llada2_folder / "config.json").read_text())
    (llada2_folder / "config.json").write_text(json.dumps({**config, "model_type": "llada21_moe"}))
    lm = load_model(str(llada2_folder), dtype="float32")
    assert isinstance(lm.model, Llada2MoeModelLM) and lm.model.token_editing and lm.family.name == "llada2"
