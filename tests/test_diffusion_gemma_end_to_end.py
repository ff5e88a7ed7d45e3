"""DiffusionGemma (transformers' own model, no mask token) through every entrance: a tiny folder with the toy
tokenizer (`tests/models/diffusion_gemma_checkpoint.py`), loaded with `DiffusionGemmaForBlockDiffusion` and decoded by
the `diffusion_gemma` preset; `mdlm-eval run` writes its store, manifest and leaderboard row, `lm_eval --model mdlm`
at float64 gives the same generations at batch 8 (left-padded prompts of two lengths) and batch 1, and a mask
decoder is one line."""
import json
import sys

import pytest
import torch

from tests.cli_helpers import run_cli
from tests.models.diffusion_gemma_checkpoint import make_diffusion_gemma_folder
from tests.test_native_end_to_end import samples

SETTINGS = dict(decoder="diffusion_gemma", gen_length="16", steps="4")  # two canvases of 8, at most 4 passes each


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_diffusion_gemma_folder(tmp_path_factory.mktemp("models") / "diffusion_gemma")


def test_loads_with_the_transformers_class_and_no_mask(folder):
    from transformers import DiffusionGemmaForBlockDiffusion

    from mdlm_eval.errors import UsageError
    from mdlm_eval.models.loading import load_model

    lm = load_model(str(folder), dtype="float64")
    assert type(lm.model) is DiffusionGemmaForBlockDiffusion and lm.model.dtype == torch.float64
    assert lm.ids.mask_id is None and lm.family.mask_free and lm.ids.eos_id == lm.tokenizer.eos_token_id
    with pytest.raises(UsageError, match="^model family diffusion_gemma has no mask token .*drop mask_id=5$"):
        load_model(str(folder), mask_id=5)


def test_run_writes_store_manifest_and_leaderboard(folder, tmp_path, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "run", "--model", str(folder), "--tasks", "mdlm_toy", "--limit", "4",
                             "--batch-size", "8", "--output-path", str(tmp_path),
                             *[f"--{k.replace('_', '-')}={v}" for k, v in SETTINGS.items()])
    assert code == 0, err
    (run_dir,) = (tmp_path / folder.name).iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["samples"] == 8
    assert manifest["decoder_spec"]["commit"] == "renoise"
    assert 1 <= manifest["nfe_per_sample"] <= 8  # at most 4 decoder passes per canvas, two canvases
    code, _, err = run_cli(monkeypatch, capsys, "leaderboard", str(tmp_path), "--out", str(tmp_path / "lb"))
    assert code == 0, err
    assert folder.name in (tmp_path / "lb" / "leaderboard.csv").read_text()


def lm_eval_samples(folder, out, batch_size: int, monkeypatch) -> dict:
    from lm_eval.__main__ import cli_evaluate

    args = ",".join(f"{k}={v}" for k, v in {**SETTINGS, "dtype": "float64", "batch_size": batch_size}.items())
    monkeypatch.setattr(sys, "argv", [
        "lm_eval", "--model", "mdlm", "--model_args", f"pretrained={folder},{args}",
        "--tasks", "mdlm_toy", "--limit", "2", "--apply_chat_template", "--output_path", str(out), "--log_samples"])
    cli_evaluate()
    return samples(out)


def test_lm_eval_batch_8_is_batch_1(folder, tmp_path, monkeypatch):
    batched = lm_eval_samples(folder, tmp_path / "b8", 8, monkeypatch)
    assert len(batched) == 4 and len({len(prompt) for prompt, _ in batched.values()}) == 2  # padded prompts
    assert batched == lm_eval_samples(folder, tmp_path / "b1", 1, monkeypatch)


def test_mask_decoder_is_one_line_before_loading(folder, tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "run", "--model", str(folder), "--decoder", "semi_ar",
                           "--gen-length", "16", "--tasks", "mdlm_toy_countdown", "--limit", "1",
                           "--output-path", str(tmp_path))
    assert code == 2 and err.strip().splitlines()[-1] == (
        "mdlm-eval: error: decoder semi_ar (commit count) needs a mask token; diffusion_gemma has none (its canvas "
        "starts from uniform random tokens): use --decoder diffusion_gemma")


def test_renoise_on_the_toy_is_one_line(tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "run", "--decoder", "diffusion_gemma", "--tasks", "mdlm_toy_countdown",
                           "--limit", "1", "--output-path", str(tmp_path))
    assert code == 2 and "(commit renoise) is for models without a mask token" in err.strip().splitlines()[-1]
