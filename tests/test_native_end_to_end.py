"""Each native model family through every entrance: a tiny folder with the family's special tokens and chat
template, decoded by `mdlm-eval run` at batch 8 (left-padded) and by `lm_eval --model mdlm` at batch 1, with
sampling on (each row draws from its own stream): the same generations, store, manifest, leaderboard.

Dream (the `dream_tiny` fixture) runs Dream's published evaluation sampler (`dream_instruct_eval`: entropy,
temperature 0.1, top_p 0.9); LLaDA (random weights, the toy tokenizer) runs `semi_ar` at temperature 0.5; the
block-diffusion families SDAR, LLaDA2 and Fast-dLLM v2 (random weights, the toy tokenizer, blocks of 4) run
`llada2` at temperature 0.5 on the block canvas with its block cache, and Fast-dLLM v2 its own `fast_dllm_v2`
(sub-blocks of 2); LLaDA2.1 runs its token editing (`llada21_speed`) at temperature 0.5."""
import json
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.models.dream_checkpoint import make_dream_folder
from tests.models.block_causal_checkpoints import (make_fast_dllm_v2_folder, make_llada21_folder, make_llada2_folder,
                                                   make_sdar_folder)
from tests.models.llada_checkpoint import make_llada_folder

# Both toy tasks (prompts of two lengths), 4 documents each: one left-padded batch of 8 at --batch-size 8.
FAMILIES = {
    "dream": (make_dream_folder, dict(decoder="dream_instruct_eval", gen_length="16", steps="8")),
    "llada": (make_llada_folder, dict(decoder="semi_ar", gen_length="16", steps="8", block_length="8",
                                      temperature="0.5")),
    "sdar": (make_sdar_folder, dict(decoder="llada2", gen_length="16", block_length="4", temperature="0.5")),
    "llada2": (make_llada2_folder, dict(decoder="llada2", gen_length="16", block_length="4", temperature="0.5")),
    "llada21": (make_llada21_folder, dict(decoder="llada21_speed", gen_length="16", block_length="4",
                                          temperature="0.5")),
    "fast_dllm_v2": (make_fast_dllm_v2_folder, dict(decoder="llada2", gen_length="16", block_length="4",
                                                    temperature="0.5")),
    "fast_dllm_v2_generate": (make_fast_dllm_v2_folder, dict(decoder="fast_dllm_v2", gen_length="16",
                                                             sub_block_length="2", temperature="0.5")),
}


def samples(run_dir: Path) -> dict:
    """{(task, doc_id): (prompt, response)} from lm-eval's samples files."""
    out = {}
    for path in run_dir.rglob("samples_*.jsonl"):
        for row in map(json.loads, path.read_text().splitlines()):
            key = path.name.split("_20")[0], row["doc_id"]
            out[key] = row["arguments"]["gen_args_0"]["arg_0"], row["resps"][0][0]
    return out


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request, tmp_path_factory):
    """(model folder, decoder settings) of one family."""
    make, settings = FAMILIES[request.param]
    return make(tmp_path_factory.mktemp("models") / request.param), settings


@pytest.fixture(scope="module")
def batched_run(family, tmp_path_factory):
    folder, settings = family
    out = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["mdlm-eval", "run", "--model", str(folder), "--tasks", "mdlm_toy", "--limit", "4",
                                 "--batch-size", "8", "--output-path", str(out)]
                   + [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()])
        from mdlm_eval import cli

        with pytest.raises(SystemExit) as exit_info:
            cli.main()
    assert exit_info.value.code == 0
    (run_dir,) = (out / folder.name).iterdir()
    return out, run_dir


def test_run_writes_store_manifest_and_leaderboard(family, batched_run, monkeypatch, capsys):
    folder, _ = family
    out, run_dir = batched_run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["samples"] == 8
    adaptive = folder.name in ("sdar", "llada2", "llada21", "fast_dllm_v2", "fast_dllm_v2_generate")  # their rules are
    assert manifest["nfe_per_sample"] == 8 or adaptive
    (results,) = run_dir.rglob("results_*.json")
    block = ", block-causal 4" if adaptive else ""
    # the exact block cache's store passes, beside NFE (Fast-dLLM v2's generate counts its store passes as steps)
    assert (manifest["store_passes_per_sample"] is not None) == (adaptive and folder.name != "fast_dllm_v2_generate")
    assert json.loads(results.read_text())["config"]["architecture"].endswith(
        block + (", token editing" if folder.name == "llada21" else ""))
    assert (run_dir / "store").is_dir()
    prompts = [prompt for prompt, _ in samples(run_dir).values()]
    assert len(prompts) == 8 and len({len(p) for p in prompts}) == 2  # two prompt lengths: left padding
    turn = {"dream": ("<|im_start|>system\n", "<|im_start|>assistant\n"),  # each family's chat template
            "llada": ("<|startoftext|><|start_header_id|>user", "<|start_header_id|>assistant<|end_header_id|>\n\n")}
    start, end = turn.get(folder.name, turn["llada"])  # the block-diffusion folders carry the toy (LLaDA) tokenizer
    assert all(p.startswith(start) and p.endswith(end) for p in prompts)
    code, _, err = run_cli(monkeypatch, capsys, "leaderboard", str(out), "--out", str(out / "lb"))
    assert code == 0, err
    assert folder.name in (out / "lb" / "leaderboard.csv").read_text()


def test_lm_eval_at_batch_1_decodes_as_the_padded_batch(family, batched_run, tmp_path, monkeypatch):
    from lm_eval.__main__ import cli_evaluate

    folder, settings = family
    args = ",".join(f"{k}={v}" for k, v in settings.items())
    monkeypatch.setattr(sys, "argv", [
        "lm_eval", "--model", "mdlm", "--model_args", f"pretrained={folder},{args},batch_size=1",
        "--tasks", "mdlm_toy", "--limit", "4", "--apply_chat_template", "--output_path", str(tmp_path),
        "--log_samples"])
    cli_evaluate()
    results = json.loads(next(tmp_path.rglob("results_*.json")).read_text())
    assert "acc,none" in results["results"]["mdlm_toy_countdown"]
    assert samples(tmp_path) == samples(batched_run[1])


def test_wino_on_dream_is_one_line(tmp_path, monkeypatch, capsys):
    dream = make_dream_folder(tmp_path / "dream")
    code, _, err = run_cli(monkeypatch, capsys, "run", "--model", str(dream), "--decoder", "wino", "--gen-length", "16", "--block-length", "8",
                           "--tasks", "mdlm_toy_countdown", "--limit", "1", "--output-path", str(tmp_path))
    assert code == 2 and err.strip().splitlines()[-1].startswith("mdlm-eval: error: commit wino is defined for LLaDA")
