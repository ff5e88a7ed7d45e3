"""The shipped toy checkpoint: a complete, self-contained Hugging Face folder that loads offline."""
import json
import os
import subprocess
import sys

from mdlm_eval.models.toy import check_checkpoint, checkpoint_path
from mdlm_eval.models.toy.train import CODE_FILES, PACKAGE_DIR

FOLDER = checkpoint_path()


def test_shipped_folder_is_complete_and_small():
    check_checkpoint(FOLDER)
    assert sum(f.stat().st_size for f in FOLDER.iterdir()) <= 25 * 2**20
    config = json.loads((FOLDER / "config.json").read_text())
    assert config["model_type"] == "mdlm_toy"
    assert config["auto_map"]["AutoModel"] == "modeling_mdlm_toy.MdlmToyModel"
    for key in ("mask_token_id", "eos_token_id", "eot_token_id", "gen_length"):
        assert isinstance(config[key], int)
    gen = json.loads((FOLDER / "generation_config.json").read_text())
    assert gen["gen_length"] == config["gen_length"] and gen["mask_token_id"] == config["mask_token_id"]


def test_shipped_code_is_the_package_code():
    for name in CODE_FILES:
        assert (FOLDER / name).read_text() == (PACKAGE_DIR / name).read_text(), f"re-copy {name} into the checkpoint"
        assert "mdlm_eval" not in (FOLDER / name).read_text().replace("mdlm_eval.models.toy", "")


LOAD = r"""
import json, sys, torch
from transformers import AutoModel, AutoTokenizer
folder = sys.argv[1]
model = AutoModel.from_pretrained(folder, trust_remote_code=True, dtype=torch.float64).eval()
tok = AutoTokenizer.from_pretrained(folder)
msgs = [[{"role": "user", "content": "Sudoku 4x4: 1002003001000300"}], [{"role": "user", "content": "Countdown:  30 100  93 ->  23"}]]
texts = [tok.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in msgs]
enc = tok(texts, add_special_tokens=False, padding=True, return_tensors="pt")
out = model(enc["input_ids"], attention_mask=enc["attention_mask"])
print("RESULT " + json.dumps({"module": type(model).__module__, "shape": list(out.logits.shape), "dtype": str(out.logits.dtype),
                  "mdlm_eval_imported": any(k.startswith("mdlm_eval") for k in sys.modules),
                  "mask": tok.mask_token_id, "pad_left": tok.padding_side}))
"""


def test_loads_offline_through_auto_classes_without_mdlm_eval(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    proc = subprocess.run([sys.executable, "-c", LOAD, str(FOLDER)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.split("RESULT ")[-1])
    config = json.loads((FOLDER / "config.json").read_text())
    assert got["module"].startswith("transformers_modules") and not got["mdlm_eval_imported"]
    assert got["shape"][0] == 2 and got["shape"][2] == config["vocab_size"] and got["dtype"] == "torch.float64"
    assert got["mask"] == config["mask_token_id"] and got["pad_left"] == "left"
