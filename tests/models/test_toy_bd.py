"""`toy-bd`, the toy's block-diffusion twin: shipped folder, name resolution, and what it refuses."""
import json
from pathlib import Path

import pytest
import torch

from mdlm_eval.errors import UsageError
from mdlm_eval.model_files import local_config, resolve_pretrained
from mdlm_eval.models.toy.train import CODE_FILES, PACKAGE_DIR, check_checkpoint

FOLDER = PACKAGE_DIR / "checkpoint-bd"


def test_the_name_resolves_to_the_shipped_folder():
    source, local = resolve_pretrained("toy-bd")
    assert local and Path(source) == FOLDER
    check_checkpoint(FOLDER)
    config = local_config("toy-bd")
    assert config["block_causal"] is True and config["trained_block_length"] == 8
    assert "block_length=8" in config["training"]["command"] and "init_from=" in config["training"]["command"]
    args = json.loads((FOLDER / "training_args.json").read_text())
    assert args["block_length"] == 8 and args["init_from"].endswith("toy/checkpoint")
    for name in CODE_FILES:
        assert (FOLDER / name).read_text() == (PACKAGE_DIR / name).read_text(), f"re-copy {name} into checkpoint-bd"


def test_early_checks_and_tasks_know_the_name():
    from mdlm_eval.runner import RunConfig
    from mdlm_eval.startup import check_model_name

    check_model_name("toy-bd")
    assert RunConfig(model="toy-bd").resolved_tasks() == ["mdlm_toy"]


def test_it_loads_block_causal_and_refuses_the_bidirectional_caches():
    from mdlm_eval.decoding.loop import decode
    from mdlm_eval.models.loading import load_model

    lm = load_model("toy-bd", dtype="float32", device="cpu")
    assert lm.model.block_causal is True and lm.model.trained_block_length == 8
    prompt = torch.tensor([[5, 6, 7, 8]])
    with pytest.raises(UsageError, match="cache=prefix is the approximate cache of bidirectional models"):
        decode(lm.model, prompt, "semi_ar", gen_length=8, steps=8, block_length=8, cache="prefix",
               mask_id=lm.ids.mask_id, eos_token_ids=[lm.ids.eos_id])


def test_mdlm_eval_run_and_the_lm_eval_model_take_it(monkeypatch, capsys, tmp_path):
    from mdlm_eval.early_checks import check_model_args
    from mdlm_eval.lm_eval_model import MDLMLM
    from tests.cli_helpers import run_cli

    code, out, err = run_cli(monkeypatch, capsys, "run", "--model", "toy-bd", "--decoder", "semi_ar",
                             "--tasks", "mdlm_toy_countdown", "--limit", "2", "--batch-size", "2",
                             "--output-path", str(tmp_path))
    assert code == 0, err
    manifest = json.loads(next(tmp_path.rglob("manifest.json")).read_text())
    assert manifest["status"] == "complete" and manifest["samples"] == 2
    assert next(tmp_path.rglob("manifest.json")).parts[-3] == "toy-bd"
    check_model_args({"pretrained": "toy-bd", "decoder": "semi_ar"})
    lm = MDLMLM(pretrained="toy-bd", decoder="semi_ar", device="cpu")
    assert lm.lm.model.block_causal is True
    with pytest.raises(UsageError, match="cache=dual is the approximate cache"):
        MDLMLM(pretrained="toy-bd", decoder="semi_ar", cache="dual", device="cpu")


def test_a_block_other_than_the_trained_one_is_warned_about_once(capsys):
    from mdlm_eval import block_default

    block_default.warn_trained_block("toy-bd", 8)
    block_default.warn_trained_block("toy", 4)  # bidirectional: no trained block
    assert capsys.readouterr().err == ""
    block_default.warn_trained_block("toy-bd", 4)
    block_default.warn_trained_block("toy-bd", 4)
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "block_length 4 differs from the block length 8 that block-causal model toy-bd was trained with" in err


def test_each_block_diffusion_family_names_its_trained_block():
    from mdlm_eval.model_files import trained_block_length

    assert trained_block_length({"model_type": "sdar", "block_size": 4}) == 4
    assert trained_block_length({"model_type": "Fast_dLLM_Qwen", "bd_size": 32}) == 32
    assert trained_block_length({"model_type": "llada2_moe"}) == 32  # LLaDA2's configs name none: generate's 32
    assert trained_block_length({"model_type": "mdlm_toy", "block_causal": True, "trained_block_length": 8}) == 8
    assert trained_block_length({"model_type": "llada"}) is None and trained_block_length({}) is None



def test_lm_eval_as_typed_takes_toy_bd(tmp_path):
    """`python -m lm_eval --model mdlm --model_args pretrained=toy-bd,...`: EOSER+ASS inside each block of 8."""
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "lm_eval", "--model", "mdlm", "--model_args",
                           "pretrained=toy-bd,decoder=eoser_ass,batch_size=2", "--tasks", "mdlm_toy_countdown",
                           "--limit", "2", "--output_path", str(tmp_path), "--log_samples"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(next(tmp_path.rglob("results_*.json")).read_text())
    assert results["config"]["architecture"] == "mdlm_toy, block-causal 8"
    assert results["config"]["decoder_spec"]["block_length"] == 8
    rows = [json.loads(line) for line in next(tmp_path.rglob("samples_*.jsonl")).read_text().splitlines()]
    assert len(rows) == 2 and all(r["nfe"] <= 5 * 3 and "store_passes" in r for r in rows)  # 3 passes a block
