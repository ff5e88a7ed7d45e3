"""What identifies a run and a stored sample: the limit (a trial beside the full run), the untracked default
output folder, the weights' contents (not their path), and the time per sample a resumed run reports."""
import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from mdlm_eval.fingerprint import weights_fingerprint
from mdlm_eval.lm_eval_model import MDLMLM
from mdlm_eval.models.toy import checkpoint_path
from mdlm_eval.runner import RunConfig, run_dir, run_evaluation, timing
from mdlm_eval.sweep import is_complete
from tests.test_lm_eval_model import requests

REPO = Path(__file__).resolve().parents[1]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A git repository with the project's .gitignore and a committed (shipped) results/ file: where a user
    types `make run` (`mdlm-eval run`, default output folder)."""
    root = tmp_path_factory.mktemp("checkout")
    shutil.copy(REPO / ".gitignore", root / ".gitignore")
    shipped = root / "results" / "toy" / "eoser_ass_steps-log_L32" / "manifest.json"
    shipped.parent.mkdir(parents=True)
    shipped.write_text('{"status": "complete"}')
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "shipped")
    return root


@pytest.fixture(scope="module")
def runs(checkout):
    """`mdlm-eval run --tasks mdlm_toy_countdown --limit 8` beside the full run of the same setting, run from the
    checkout with every other option at its default."""
    import os

    here = os.getcwd()
    os.chdir(checkout)
    try:
        full = RunConfig(tasks=["mdlm_toy_countdown"], batch_size=64)
        trial = replace(full, limit=8)
        manifests = {"trial": run_evaluation(trial), "full": run_evaluation(full)}
        yield checkout, full, trial, manifests
    finally:
        os.chdir(here)


def test_a_limited_run_lands_beside_the_full_run(runs):
    checkout, full, trial, manifests = runs
    assert run_dir(trial) != run_dir(full) and run_dir(trial).name.endswith("_limit8")
    for config, samples in ((trial, 8), (full, 256)):
        manifest = json.loads((checkout / run_dir(config) / "manifest.json").read_text())
        assert manifest["samples"] == samples and manifest["limit"] == config.limit
        assert is_complete(checkout / run_dir(config), config)
    assert manifests["full"]["samples_decoded"] == 256 and manifests["full"]["samples_reused"] == 0


def test_default_output_folder_leaves_the_checkout_clean(runs):
    checkout, full, _, _ = runs
    assert full.output_path == "runs" and (checkout / "runs" / "toy").is_dir()
    assert git(checkout, "status", "--porcelain") == ""
    assert (checkout / "results" / "toy" / "eoser_ass_steps-log_L32" / "manifest.json").read_text() == '{"status": "complete"}'


def test_a_fully_reused_rerun_keeps_a_true_time_per_sample(runs, monkeypatch):
    checkout, _, trial, manifests = runs
    first = manifests["trial"]
    assert first["seconds_per_sample_from"] == "this run" and first["samples_decoded"] == 8
    monkeypatch.chdir(checkout)
    again = run_evaluation(trial)
    assert (again["samples_decoded"], again["samples_reused"]) == (0, 8)
    assert again["seconds_per_sample"] == first["seconds_per_sample"]
    assert again["seconds_per_sample_from"] == "an earlier run"
    assert again["scores"] == first["scores"]
    # with no earlier manifest left (a rerun killed after clearing it), the decode seconds stored per sample
    records = [{"key": str(i), "seconds": 0.5 + i, "gen_length": 32} for i in range(4)]
    kept = timing(records, {"0", "1", "2", "3"}, wall=0.01, previous={})
    assert kept["seconds_per_sample"] == 2.0 and kept["seconds_per_sample_from"] == "the sample store (decode time only)"
    half = timing(records, {"0", "1"}, wall=3.0, previous={})
    assert (half["samples_decoded"], half["seconds_per_sample"], half["seconds_per_sample_from"]) == (2, 1.5, "this run")


def test_changed_weights_under_the_same_path_are_decoded_again(tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(checkpoint_path(), ckpt)
    store = str(tmp_path / "store")
    args = dict(pretrained=str(ckpt), decoder="semi_ar", store=store, dtype="float64")
    texts = MDLMLM(**args).generate_until(requests()[:3], disable_tqdm=True)
    capsys.readouterr()
    assert MDLMLM(**args).generate_until(requests()[:3], disable_tqdm=True) == texts
    assert "reused 3 of 3 finished samples" in capsys.readouterr().err  # unchanged weights: reused

    weights = ckpt / "model.safetensors"
    tensors = load_file(weights)
    name = sorted(tensors)[len(tensors) // 2]
    tensors[name] = tensors[name] * 1.5  # "retrained": same file name and size, other values
    save_file(tensors, weights, metadata={"format": "pt"})
    MDLMLM(**args).generate_until(requests()[:3], disable_tqdm=True)
    assert "reused 0 of 3 finished samples" in capsys.readouterr().err


def test_fingerprints(tmp_path, monkeypatch):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(checkpoint_path(), ckpt)
    before = weights_fingerprint(str(ckpt))
    assert before.startswith("files:") and weights_fingerprint(str(ckpt)) == before
    (ckpt / "extra.safetensors").write_bytes(b"x")  # every weight file at the top of the folder counts
    assert weights_fingerprint(str(ckpt)) != before
    (ckpt / "checkpoint-100").mkdir()  # sub-folders (older checkpoints) are not the model
    (ckpt / "checkpoint-100" / "model.safetensors").write_bytes(b"x")
    after = weights_fingerprint(str(ckpt))
    (ckpt / "checkpoint-100" / "model.safetensors").write_bytes(b"yy")
    assert weights_fingerprint(str(ckpt)) == after

    import huggingface_hub.constants

    cache = tmp_path / "hub"
    repo = cache / "models--org--mdlm"
    for commit in ("a" * 40, "b" * 40):
        (repo / "snapshots" / commit).mkdir(parents=True)
        (repo / "snapshots" / commit / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    (repo / "refs" / "main").write_text("a" * 40)
    assert weights_fingerprint("org/mdlm") == "commit:" + "a" * 40
    (repo / "refs" / "main").write_text("b" * 40)  # a new revision pushed and downloaded
    assert weights_fingerprint("org/mdlm") == "commit:" + "b" * 40
    assert weights_fingerprint("org/not-cached") == "name:org/not-cached"


# ---- two trained adapters, two models under one path: never one run folder, never one leaderboard row ----


def test_readable_names():
    from mdlm_eval.identity import adapter_label, readable_name

    assert readable_name("runs/a/adapter") == "a"
    assert readable_name("/x/cj/checkpoint-40/final/") == "cj"
    assert readable_name("org/lora-cj") == "lora-cj" and readable_name("adapter") == "adapter"
    assert adapter_label("toy-cj-grpo") == "toy-cj-grpo"  # shipped adapters keep their names


@pytest.fixture(scope="module")
def two_adapters(tmp_path_factory):
    """Two `mdlm-eval train cj-grpo` runs (one step, the smallest group), each writing `<out>/adapter`."""
    from mdlm_eval.training.config import load_config
    from mdlm_eval.training.trainer import train

    root = tmp_path_factory.mktemp("trained")
    adapters = []
    for seed, name in ((0, "a"), (1, "b")):
        cfg = load_config("toy", task="mdlm_toy_countdown", steps=1, batch_size=2, num_generations=2,
                          num_iterations=1, lora_r=2, seed=seed, save_every=1000)
        adapters.append(train(cfg, root / name))
    return root, adapters


def test_two_trained_adapters_get_two_folders_and_two_rows(two_adapters):
    import re

    from mdlm_eval.leaderboard.tables import build_tables

    root, adapters = two_adapters
    assert [a.name for a in adapters] == ["adapter", "adapter"]
    out = root / "runs"
    folders = []
    for adapter in adapters:
        config = RunConfig(peft=str(adapter), tasks=["mdlm_toy_countdown"], limit=2, output_path=str(out))
        manifest = run_evaluation(config)
        folders.append(run_dir(config))
        assert manifest["weights"]["peft"] != manifest["weights"]["model"]
    assert re.fullmatch(r"toy\+a-[0-9a-f]{8}", folders[0].parent.name)
    assert re.fullmatch(r"toy\+b-[0-9a-f]{8}", folders[1].parent.name)
    warnings = []
    board = build_tables(out, None, warnings.append)
    assert sorted(board.runs["adapter"]) == sorted(f.parent.name.split("+")[1] for f in folders)
    assert not [w for w in warnings if "claim the same row" in w]

    # a copy of one run folder elsewhere: two results files claim one row, and the leaderboard says so
    shutil.copytree(folders[0], out / "copy" / folders[0].name)
    warnings.clear()
    board = build_tables(out, None, warnings.append)
    assert len(board.runs) == 2
    claims = [w for w in warnings if "claim the same row" in w]
    assert len(claims) == 1 and claims[0].startswith("2 results files claim the same row (toy + a-")


def test_a_folder_of_other_weights_is_never_overwritten(tmp_path, capsys):
    ckpt = tmp_path / "latest"
    shutil.copytree(checkpoint_path(), ckpt)
    config = RunConfig(model=str(ckpt), tasks=["mdlm_toy_countdown"], limit=2, output_path=str(tmp_path / "runs"))
    first = run_evaluation(config)
    folder = run_dir(config)
    assert folder.parent.name == "latest"
    kept = (folder / "manifest.json").read_text()

    weights = ckpt / "model.safetensors"  # retrained in place: same path, other weights
    tensors = load_file(weights)
    name = sorted(tensors)[len(tensors) // 2]
    tensors[name] = tensors[name] * 1.5
    save_file(tensors, weights, metadata={"format": "pt"})
    capsys.readouterr()
    second = run_evaluation(config)
    err = capsys.readouterr().err
    moved = run_dir(config)
    assert moved != folder and moved.parent.name.startswith("latest-") and moved.name == folder.name
    assert f"{folder} holds a run of other weights" in err and str(moved) in err
    assert (folder / "manifest.json").read_text() == kept  # the first run is untouched
    assert second["weights"]["model"] != first["weights"]["model"] and second["model_label"] == moved.parent.name
