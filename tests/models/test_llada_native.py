"""The native LLaDA model against LLaDA's own modeling code, on a tiny random-weight fixture (see its README)."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from mdlm_eval.errors import UsageError
from mdlm_eval.models import load_model
from mdlm_eval.models.llada import LladaModelLM
from mdlm_eval.models.loading import resolve_pretrained

FIXTURE = Path(__file__).parent / "fixtures" / "llada_tiny"
TOY_TOKENIZER = ("tokenizer.json", "tokenizer_config.json")


@pytest.fixture(scope="module")
def model():
    return LladaModelLM.from_pretrained(FIXTURE, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def ref():
    return load_file(FIXTURE / "reference.safetensors")


@pytest.fixture()
def llada_folder(tmp_path):
    """The fixture as a loadable folder: its config and weights (no modeling code) plus the toy's tokenizer."""
    folder = tmp_path / "llada"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(FIXTURE / name, folder / name)
    for name in TOY_TOKENIZER:
        shutil.copy(Path(resolve_pretrained("toy")[0]) / name, folder / name)
    return folder


@torch.no_grad()
def test_logits_equal_the_reference(model, ref):
    assert torch.allclose(model(ref["ids"]).logits, ref["logits"], atol=1e-5, rtol=0)


@torch.no_grad()
def test_padded_row_gives_the_logits_of_the_row_alone(model, ref):
    """LLaDA's code ignores the mask (its padded logits equal the unmasked call); the native model honours it."""
    out = model(ref["padded_ids"], attention_mask=ref["padded_mask"]).logits
    assert torch.allclose(out[1:, 3:], ref["row1_alone_logits"], atol=1e-5, rtol=0)
    assert torch.allclose(out[0], ref["logits"][0], atol=1e-5, rtol=0)
    assert not torch.allclose(ref["padded_logits_reference_with_mask"][1:, 3:], ref["row1_alone_logits"], atol=1e-3)


@torch.no_grad()
def test_cached_windows_equal_fast_dllm(model, ref):
    """Prefix (window = block + suffix) and dual (window = block) forwards against Fast-dLLM's cached model."""
    pkv = model(ref["ids"], use_cache=True).past_key_values
    win = ref["window_ids"]
    prefix = model(win[:, 4:], past_key_values=pkv, window_start=4).logits
    dual = model(win[:, 4:8], past_key_values=pkv, window_start=4).logits
    assert torch.allclose(prefix, ref["prefix_window_logits"], atol=1e-5, rtol=0)
    assert torch.allclose(dual, ref["dual_window_logits"], atol=1e-5, rtol=0)


@torch.no_grad()
def test_cached_windows_of_a_padded_batch_equal_the_full_forward(model, ref):
    """Padding honoured in cached attention: with the cache of the same canvas, a window gives the full logits."""
    x, m = ref["padded_ids"], ref["padded_mask"]
    out = model(x, attention_mask=m, use_cache=True)
    for start, end in ((6, 9), (6, 12)):  # a dual-cache block, a prefix-cache window
        window = model(x[:, start:end], attention_mask=m, past_key_values=out.past_key_values, window_start=start)
        assert torch.allclose(window.logits, out.logits[:, start:end], atol=1e-5, rtol=0)


def test_load_model_uses_the_native_class_without_the_checkpoint_code(llada_folder):
    lm = load_model(str(llada_folder), dtype="float32")
    assert isinstance(lm.model, LladaModelLM)
    assert lm.family.name == "llada" and lm.ids.mask_id == 63


def test_native_false_runs_the_checkpoint_code(llada_folder):
    with pytest.raises(UsageError, match="lacks configuration_llada.py, named by auto_map"):
        load_model(str(llada_folder), native=False)


def test_mismatching_weights_name_the_parameter(llada_folder):
    weights = load_file(llada_folder / "model.safetensors")
    weights["model.transformer.blocks.1.up_proj.weight"] = weights["model.transformer.blocks.1.up_proj.weight"][:8]
    save_file(weights, llada_folder / "model.safetensors")
    with pytest.raises(UsageError, match=r"parameter model\.transformer\.blocks\.1\.up_proj\.weight has shape "
                                         r"\[8, 32\].*native=false"):
        load_model(str(llada_folder))


def test_unsupported_architecture_suggests_native_false(llada_folder):
    config = json.loads((llada_folder / "config.json").read_text())
    config["block_type"] = "sequential"
    (llada_folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UsageError, match="block_type='sequential'.*native=false"):
        load_model(str(llada_folder))


@torch.no_grad()
def test_logits_range_gives_the_block_only(model, ref):
    x, m = ref["padded_ids"], ref["padded_mask"]
    full = model(x, attention_mask=m, use_cache=True)
    assert torch.equal(model(x, attention_mask=m, logits_range=(4, 8)).logits, full.logits[:, 4:8])
    window = model(x[:, 4:], attention_mask=m, past_key_values=full.past_key_values, window_start=4,
                   logits_range=(4, 8)).logits
    assert torch.allclose(window, full.logits[:, 4:8], atol=1e-5, rtol=0)


def test_wino_matches_its_reference_on_the_native_model(model):
    """WINO's shadow-block forward ([b, 1, T, T] mask, position_ids) runs on the native model, exact to WINO."""
    from mdlm_eval import decode
    from mdlm_eval.decoding.reference import wino_generate

    ids = torch.randint(3, 60, (1, 6), generator=torch.Generator().manual_seed(4))
    double = LladaModelLM.from_pretrained(FIXTURE, dtype=torch.float64).eval()
    for kw in (dict(), dict(threshold=0.05, threshold_back=0.2)):
        expected, nfe = wino_generate(double, ids, gen_length=16, block_length=8, mask_id=63,
                                      **(dict(threshold=0.6, threshold_back=0.9) | kw))
        out = decode(double, ids, "wino", gen_length=16, block_length=8, mask_id=63, eos_token_ids=[2], **kw)
        assert torch.equal(out.sequences, expected) and out.nfe == nfe


@torch.no_grad()
def test_a_full_four_d_mask_and_default_positions_give_the_plain_logits(model, ref):
    ids = ref["ids"]
    full = torch.ones(ids.shape[0], 1, ids.shape[1], ids.shape[1], dtype=torch.bool)
    positions = torch.arange(ids.shape[1]).expand_as(ids)
    assert torch.equal(model(ids, attention_mask=full, position_ids=positions).logits, model(ids).logits)
