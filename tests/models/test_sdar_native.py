"""The native SDAR model against SDAR's own modeling code on a tiny random-weight fixture (see its README), and
Fast-dLLM v2, the same model with a Qwen2.5 block and shifted logits."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from mdlm_eval.errors import UsageError
from mdlm_eval.models import load_model
from mdlm_eval.models.loading import resolve_pretrained
from mdlm_eval.models.profiles import ShiftedLogits
from mdlm_eval.models.sdar import FastDLLMV2ForCausalLM, SDARForCausalLM
from mdlm_eval.models.sdar.own_code import BlockDiffusionOwnCode

FIXTURE = Path(__file__).parent / "fixtures" / "sdar_tiny"
TOY_TOKENIZER = ("tokenizer.json", "tokenizer_config.json")
ATOL = 1e-5  # float32, as for LLaDA and Dream (measured: 3.5e-6 against logits up to 6.6)


@pytest.fixture(scope="module")
def model():
    return SDARForCausalLM.from_pretrained(FIXTURE, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def ref():
    return load_file(FIXTURE / "reference.safetensors")


def with_toy_tokenizer(folder: Path) -> Path:
    for name in TOY_TOKENIZER:
        shutil.copy(Path(resolve_pretrained("toy")[0]) / name, folder / name)
    return folder


@pytest.fixture()
def sdar_folder(tmp_path):
    """The fixture as a loadable folder: its config and weights (no modeling code) plus the toy's tokenizer."""
    folder = tmp_path / "sdar"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(FIXTURE / name, folder / name)
    return with_toy_tokenizer(folder)


def padded(ref):
    """Row 0 as it is, row 1's first 9 tokens left-padded by 3 (pad id 2)."""
    x = ref["ids"].clone()
    x[1] = torch.cat([torch.full((3,), 2), ref["row1_alone_ids"][0]])
    m = torch.ones_like(x)
    m[1, :3] = 0
    return x, m


@torch.no_grad()
def test_logits_equal_the_reference(model, ref):
    assert torch.allclose(model(ref["ids"]).logits, ref["logits"], atol=ATOL, rtol=0)
    assert torch.allclose(model(ref["ids"], block_length=3).logits, ref["logits_block3"], atol=ATOL, rtol=0)
    assert not torch.allclose(ref["logits"], ref["logits_block3"], atol=1e-2)  # the block length matters


@torch.no_grad()
def test_padded_row_gives_the_logits_of_the_row_alone(model, ref):
    x, m = padded(ref)
    out = model(x, attention_mask=m).logits
    assert torch.allclose(out[1:, 3:], ref["row1_alone_logits"], atol=ATOL, rtol=0)
    assert torch.allclose(out[0], ref["logits"][0], atol=ATOL, rtol=0)


@torch.no_grad()
def test_cached_blocks_equal_the_reference_cache(model, ref):
    """SDAR's generate.py passes: prefill block 0 and keep its (K, V); block 1 read-only from the cache, then
    appended; block 2 read-only."""
    ids = ref["ids"]
    pkv = model(ids[:, :4], use_cache=True).past_key_values
    block1 = model(ids[:, 4:8], past_key_values=pkv, window_start=4, use_cache=True)
    assert torch.allclose(block1.logits, ref["cached_block1_logits"], atol=ATOL, rtol=0)
    pkv = tuple(tuple(torch.cat([a, c], dim=2) for a, c in zip(p, q)) for p, q in zip(pkv, block1.past_key_values))
    block2 = model(ids[:, 8:12], past_key_values=pkv, window_start=8).logits
    assert torch.allclose(block2, ref["cached_block2_logits"], atol=ATOL, rtol=0)
    assert torch.allclose(block2, ref["logits"][:, 8:12], atol=ATOL, rtol=0)


@torch.no_grad()
def test_windows_with_a_cache_equal_the_full_forward_on_a_padded_batch(model, ref):
    """A window over cached[:s] that runs to the end (prefix), or inside a cache that covers the rest of its block
    (dual; Fast-dLLM v2's sub-block cache), gives the full forward's logits, padding honoured (row 1's blocks
    start at index 3 + 4k, row 0's at 4k)."""
    x, m = padded(ref)
    full = model(x, attention_mask=m, use_cache=True)
    prefix = tuple(tuple(t[:, :, :6] for t in layer) for layer in full.past_key_values)
    window = model(x[:, 6:], attention_mask=m, past_key_values=prefix, window_start=6).logits
    assert torch.allclose(window, full.logits[:, 6:], atol=ATOL, rtol=0)
    for start, end in ((5, 7), (8, 10), (4, 12)):
        window = model(x[:, start:end], attention_mask=m, past_key_values=full.past_key_values, window_start=start)
        assert torch.allclose(window.logits, full.logits[:, start:end], atol=ATOL, rtol=0)


@torch.no_grad()
def test_logits_range_gives_the_block_only(model, ref):
    x, m = padded(ref)
    full = model(x, attention_mask=m, use_cache=True)
    assert torch.equal(model(x, attention_mask=m, logits_range=(4, 8)).logits, full.logits[:, 4:8])
    window = model(x[:, 4:], attention_mask=m, past_key_values=full.past_key_values, window_start=4,
                   logits_range=(4, 8)).logits
    assert torch.allclose(window, full.logits[:, 4:8], atol=ATOL, rtol=0)


def test_protocol_attributes(model):
    assert model.block_causal and model.trained_block_length == 4 and model.supports_block_cache


@torch.no_grad()
def test_own_code_wrapper_builds_the_block_causal_mask(model, ref):
    """`native=false`'s wrapper gives SDAR's code generate.py's mask and positions; checked on the native model,
    which takes the same 4-D mask and position_ids."""
    x, m = padded(ref)
    own = BlockDiffusionOwnCode(model, "sdar")(x, attention_mask=m).logits
    native = model(x, attention_mask=m).logits
    assert torch.allclose(own[1, 3:], native[1, 3:], atol=ATOL, rtol=0) and torch.equal(own[1, :3], torch.zeros(3, 64))
    assert torch.allclose(BlockDiffusionOwnCode(model, "sdar")(ref["ids"], block_length=3).logits,
                          ref["logits_block3"], atol=ATOL, rtol=0)


def test_activation_checkpointing_gives_the_same_gradients(ref):
    ids = ref["ids"]
    grads = []
    for checkpointing in (False, True):
        m = SDARForCausalLM.from_pretrained(FIXTURE, dtype=torch.float32).train()
        if checkpointing:
            m.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        m(ids).logits.logsumexp(-1).sum().backward()
        grads.append(m.model.layers[0].self_attn.q_norm.weight.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-5, rtol=0)


def test_load_model_uses_the_native_class_without_the_checkpoint_code(sdar_folder):
    lm = load_model(str(sdar_folder), dtype="float32")
    assert isinstance(lm.model, SDARForCausalLM)
    assert lm.family.name == "sdar" and lm.ids.mask_id == 63 and lm.ids.eos_id == 2


def test_the_family_is_recognised_by_architecture_alone(sdar_folder):
    config = json.loads((sdar_folder / "config.json").read_text())
    del config["model_type"]
    (sdar_folder / "config.json").write_text(json.dumps(config))
    assert isinstance(load_model(str(sdar_folder), dtype="float32").model, SDARForCausalLM)


def test_native_false_runs_the_checkpoint_code(sdar_folder):
    with pytest.raises(UsageError, match="lacks configuration_sdar.py, named by auto_map"):
        load_model(str(sdar_folder), native=False)


def test_mismatching_weights_name_the_parameter(sdar_folder):
    weights = load_file(sdar_folder / "model.safetensors")
    weights["model.layers.1.mlp.up_proj.weight"] = weights["model.layers.1.mlp.up_proj.weight"][:8]
    save_file(weights, sdar_folder / "model.safetensors")
    with pytest.raises(UsageError, match=r"^SDAR checkpoint .*: parameter model\.layers\.1\.mlp\.up_proj\.weight has "
                                         r"shape \[8, 32\].*native=false"):
        load_model(str(sdar_folder))


def test_a_qwen2_block_checkpoint_is_not_sdar(sdar_folder):
    """Weights without q/k norms (a Qwen2-style block) under an SDAR config: the first missing one is named."""
    weights = {k: v for k, v in load_file(sdar_folder / "model.safetensors").items() if "_norm." not in k
               or "layernorm" in k}
    save_file(weights, sdar_folder / "model.safetensors")
    with pytest.raises(UsageError, match=r"parameter model\.layers\.0\.self_attn\.k_norm\.weight is missing from "
                                         r"the checkpoint; pass native=false"):
        load_model(str(sdar_folder))


def test_unsupported_rope_scaling_suggests_native_false(sdar_folder):
    config = json.loads((sdar_folder / "config.json").read_text())
    config["rope_scaling"] = {"rope_type": "yarn", "factor": 4.0}
    (sdar_folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UsageError, match="rope_scaling=.*yarn.*native=false"):
        load_model(str(sdar_folder))


FAST_DLLM = Path(__file__).parent / "fixtures" / "fast_dllm_v2_tiny"
FAST_DLLM_KEYS = {"input_layernorm.weight", "post_attention_layernorm.weight", "mlp.gate_proj.weight",
                  "mlp.up_proj.weight", "mlp.down_proj.weight", "self_attn.q_proj.weight", "self_attn.q_proj.bias",
                  "self_attn.k_proj.weight", "self_attn.k_proj.bias", "self_attn.v_proj.weight",
                  "self_attn.v_proj.bias", "self_attn.o_proj.weight"}


@pytest.fixture(scope="module")
def fast_dllm():
    return FastDLLMV2ForCausalLM.from_pretrained(FAST_DLLM, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def fast_ref():
    return load_file(FAST_DLLM / "reference.safetensors")


@pytest.fixture()
def fast_dllm_folder(tmp_path):
    folder = tmp_path / "fast_dllm"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(FAST_DLLM / name, folder / name)
    return with_toy_tokenizer(folder)


@torch.no_grad()
def test_fast_dllm_v2_logits_equal_the_reference(fast_dllm, fast_ref):
    """Raw outputs (output i predicts token i + 1) against Fast-dLLM v2's code, blocks of 4 and 3, a row alone."""
    ids = fast_ref["ids"]
    assert torch.allclose(fast_dllm(ids).logits, fast_ref["logits"], atol=ATOL, rtol=0)
    assert torch.allclose(fast_dllm(ids, block_length=3).logits, fast_ref["logits_block3"], atol=ATOL, rtol=0)
    assert not torch.allclose(fast_ref["logits"], fast_ref["logits_block3"], atol=1e-2)
    alone = fast_dllm(fast_ref["row1_alone_ids"]).logits
    assert torch.allclose(alone, fast_ref["row1_alone_logits"], atol=ATOL, rtol=0)


@torch.no_grad()
def test_fast_dllm_v2_block_and_sub_block_caches_equal_the_reference(fast_dllm, fast_ref):
    """Its generate's block cache (prefix blocks stored, the block read-only) and sub-block cache (a sub-block
    against the prefix cache and the current block's own keys and values, `replace_position`)."""
    ids = fast_ref["ids"]
    pkv = fast_dllm(ids[:, :4], use_cache=True).past_key_values
    block = fast_dllm(ids[:, 4:8], past_key_values=pkv, window_start=4, use_cache=True)
    assert torch.allclose(block.logits, fast_ref["cached_block1_logits"], atol=ATOL, rtol=0)
    with_block = tuple(tuple(torch.cat([a, c], dim=2) for a, c in zip(p, q))
                       for p, q in zip(pkv, block.past_key_values))
    sub = fast_dllm(fast_ref["subblock_ids"], past_key_values=with_block, window_start=6).logits
    assert torch.allclose(sub, fast_ref["subblock_logits"], atol=ATOL, rtol=0)
    assert not torch.allclose(sub, block.logits[:, 2:], atol=1e-3)  # the changed token is seen


@torch.no_grad()
def test_fast_dllm_v2_padded_row_gives_the_logits_of_the_row_alone(fast_dllm, fast_ref):
    x, m = padded(fast_ref)
    out = fast_dllm(x, attention_mask=m).logits
    assert torch.allclose(out[1:, 3:], fast_ref["row1_alone_logits"], atol=ATOL, rtol=0)
    assert torch.allclose(out[0], fast_ref["logits"][0], atol=ATOL, rtol=0)


@torch.no_grad()
def test_fast_dllm_v2_loads_with_qwen2_names_and_shifted_logits(fast_dllm_folder, fast_ref):
    lm = load_model(str(fast_dllm_folder), dtype="float32")
    assert isinstance(lm.model, ShiftedLogits) and isinstance(lm.model.model, FastDLLMV2ForCausalLM)
    assert lm.family.name == "fast_dllm_qwen" and lm.ids.mask_id == 63
    assert lm.model.block_causal and lm.model.trained_block_length == 4
    names = {k.split("layers.0.", 1)[1] for k in lm.model.model.state_dict() if "layers.0." in k}
    assert names == FAST_DLLM_KEYS  # q/k/v bias, o_proj without, no q/k norms
    raw = fast_ref["logits_block3"]
    shifted = lm.model(fast_ref["ids"], block_length=3).logits  # block_length passes through the shift
    assert torch.allclose(shifted[:, 1:], raw[:, :-1], atol=ATOL, rtol=0)
    assert torch.allclose(shifted[:, :1], raw[:, :1], atol=ATOL, rtol=0)


def test_fast_dllm_v2_native_false_needs_its_code(fast_dllm_folder):
    with pytest.raises(UsageError, match="lacks configuration.py, named by auto_map"):
        load_model(str(fast_dllm_folder), native=False)


@pytest.mark.parametrize("fixture, wrap", [(FIXTURE, False), (FAST_DLLM, True)])
def test_the_bidirectional_caches_are_refused_in_one_line(fixture, wrap):
    """A finished block's keys and values never change here: the approximate caches of bidirectional models are
    refused before any forward pass (the block-diffusion loop itself is tests/decoding/test_block_diffusion.py)."""
    from mdlm_eval import decode
    from mdlm_eval.errors import UsageError

    cls = FastDLLMV2ForCausalLM if wrap else SDARForCausalLM
    model = cls.from_pretrained(fixture, dtype=torch.float64).eval()
    model = ShiftedLogits(model) if wrap else model
    ids = torch.randint(3, 60, (1, 8), generator=torch.Generator().manual_seed(4))
    for cache in ("prefix", "dual"):
        with pytest.raises(UsageError, match="is block-causal"):
            decode(model, ids, "semi_ar", gen_length=16, block_length=4, mask_id=63, eos_token_ids=[2], cache=cache)
