"""Loading checkpoints the way LLaDA loads, family profiles, and LoRA adapters."""
import shutil
from types import SimpleNamespace

import pytest
import torch

from mdlm_eval import decode
from mdlm_eval.errors import UsageError
from mdlm_eval.models import load_model
from mdlm_eval.models.loading import TRUSTED_HUB_IDS, resolve_pretrained
from mdlm_eval.models.profiles import FAMILIES, ShiftedLogits, TokenIds, family_of, token_ids


@pytest.fixture(scope="module")
def toy():
    return load_model("toy", dtype="float64")


@pytest.fixture()
def toy_copy(tmp_path):
    folder = tmp_path / "toy"
    shutil.copytree(resolve_pretrained("toy")[0], folder)
    return folder


def test_toy_loads_with_its_ids(toy):
    tok = toy.tokenizer
    assert toy.ids == TokenIds(mask_id=tok.mask_token_id, eos_id=tok.eos_token_id,
                               eot_id=tok.convert_tokens_to_ids("<|eot_id|>"))
    assert tok.padding_side == "left" and tok.pad_token_id == toy.ids.eos_id != toy.ids.mask_id
    assert toy.dtype == torch.float64 and toy.device.type == "cpu"


@pytest.mark.parametrize("missing,message", [
    ("model.safetensors", "has no weights"),
    ("config.json", "lacks config.json"),
    ("modeling_mdlm_toy.py", "lacks modeling_mdlm_toy.py, named by auto_map"),
])
def test_incomplete_folder_names_the_file(toy_copy, missing, message):
    (toy_copy / missing).unlink()
    with pytest.raises(UsageError, match=message):
        load_model(str(toy_copy))


def test_missing_folder_and_untrusted_code(toy_copy, tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_model(str(tmp_path / "nowhere"))
    config = toy_copy / "config.json"  # a model type transformers knows only through the folder's own code
    config.write_text(config.read_text().replace('"model_type": "mdlm_toy"', '"model_type": "someone_elses"'))
    with pytest.raises(UsageError, match="runs its own code .* trust_remote_code=True"):
        load_model(str(toy_copy), trust_remote_code=False)
    assert TRUSTED_HUB_IDS.match("GSAI-ML/LLaDA-8B-Instruct") and TRUSTED_HUB_IDS.match("Dream-org/Dream-v0-Instruct-7B")
    assert not TRUSTED_HUB_IDS.match("someone/LLaDA-8B-Instruct")
    for hub_id in ("inclusionAI/LLaDA2.1-mini", "JetAstra/SDAR-1.7B-Chat", "Gen-Verse/TraDo-4B-Instruct",
                   "Efficient-Large-Model/Fast_dLLM_v2_7B"):
        assert TRUSTED_HUB_IDS.match(hub_id)
    assert not TRUSTED_HUB_IDS.match("JetAstra/SDAR-1.7B-Chat/../../x") and not TRUSTED_HUB_IDS.match("x/SDAR-1.7B")


def test_cuda_requested_without_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(UsageError, match="no CUDA GPU"):
        load_model("toy", device="cuda")


def test_families():
    assert family_of(SimpleNamespace(model_type="llada")) is FAMILIES["llada"]
    assert family_of(SimpleNamespace(model_type="Dream")).shift_logits
    assert family_of(SimpleNamespace(model_type="mdlm_toy")) is FAMILIES["generic"]
    with pytest.raises(UsageError, match="unknown model family"):
        family_of(SimpleNamespace(model_type="x"), "mamba")
    config = SimpleNamespace(model_type="mystery", eos_token_id=5)
    tokenizer = SimpleNamespace(mask_token=None, mask_token_id=None, eos_token_id=5, unk_token_id=0,
                                convert_tokens_to_ids=lambda t: 0)
    with pytest.raises(UsageError, match="names no mask token"):
        token_ids(config, tokenizer, FAMILIES["generic"])
    assert token_ids(config, tokenizer, FAMILIES["llada"]).mask_id == 126336
    assert token_ids(config, tokenizer, FAMILIES["generic"], mask_id=7) == TokenIds(7, 5, None)


def test_eos_ids_per_policy():
    ids = TokenIds(mask_id=126336, eos_id=126081, eot_id=126348)
    assert ids.eos_ids_for("confidence_eos_eot_inf") == [126081, 126348]
    assert ids.eos_ids_for("eoser") == ids.eos_ids_for("logits_eos_inf") == [126081]


def test_dream_logits_are_shifted_right():
    class Echo(torch.nn.Module):
        config = SimpleNamespace(vocab_size=4)

        def forward(self, input_ids, attention_mask=None):
            return SimpleNamespace(logits=torch.nn.functional.one_hot(input_ids, 4).float())

    out = ShiftedLogits(Echo())(torch.tensor([[0, 1, 2, 3]])).logits
    assert out.argmax(-1).tolist() == [[0, 0, 1, 2]]  # position i now holds output i-1


def test_lora_adapter_changes_outputs_and_loads_through_peft(toy, tmp_path):
    from peft import LoraConfig, get_peft_model

    base = load_model("toy")
    torch.manual_seed(0)
    lora = get_peft_model(base.model, LoraConfig(r=8, lora_alpha=16, target_modules=["qkv", "out"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")

    adapted = load_model("toy", peft=str(tmp_path / "adapter"))
    fresh = load_model("toy")
    prompt = fresh.tokenizer(["Sudoku 4x4: 1002003001000300"], return_tensors="pt")["input_ids"]
    kw = dict(gen_length=32, mask_id=fresh.ids.mask_id, eos_token_ids=[fresh.ids.eos_id])
    logits_base = fresh.model(prompt).logits
    logits_lora = adapted.model(prompt).logits
    assert not torch.allclose(logits_base, logits_lora)
    assert not torch.equal(decode(fresh.model, prompt, "semi_ar", **kw).sequences,
                           decode(adapted.model, prompt, "semi_ar", **kw).sequences)


def test_adapter_that_does_not_fit(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="lacks adapter_config.json"):
        load_model("toy", peft=str(tmp_path / "empty"))
    from peft import LoraConfig, get_peft_model

    other = torch.nn.Sequential()
    other.add_module("proj", torch.nn.Linear(3, 3))
    get_peft_model(other, LoraConfig(r=2, target_modules=["proj"])).save_pretrained(tmp_path / "alien")
    with pytest.raises(UsageError, match="does not fit base model toy"):
        load_model("toy", peft=str(tmp_path / "alien"))

