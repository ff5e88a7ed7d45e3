"""`mdlm-eval train report`: seeds of training runs, scored on test items, into one table, CSV and curves."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.cli_helpers import run_cli

TASK = "mdlm_toy_countdown"
DOCS = [{"numbers": [1, 2, 3], "target": 6}, {"numbers": [2, 2, 5], "target": 9}]
RIGHT = ["\\boxed{1+2+3}", "\\boxed{2+2+5}"]


def training_run(study: Path, name: str, *, method: str = "cj-grpo", seed: int = 1, steps: int = 400,
                 **fields) -> str:
    """A training run folder as `mdlm-eval train` leaves it (config.yaml, log.tsv, adapter/); its adapter path."""
    run = study / "runs" / name
    (run / "adapter").mkdir(parents=True)
    config = {"method": method, "model": "toy", "task": TASK, "seed": seed, "steps": steps, "scale_rewards": False,
              "rewards": {"countdown": ["countdown_boxed"], "sudoku": ["d1_sudoku"]}, **fields}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    rows = [f"{s}\t0\t{0.1 * seed + s / 100}\t0.2\t0.5\t0\t0\t0.0005\t{s}" for s in range(1, steps + 1)]
    (run / "log.tsv").write_text("step\tloss\treward\treward_std\tzero_spread\tkl\tclip_fraction\tlr\tseconds\n"
                                 + "\n".join(rows) + "\n")
    return f"runs/{name}/adapter"


def evaluation(study: Path, name: str, peft: str | None, greedy: list[int], sampled: list[int], n: int = 4,
               decoder: str = "eoser_ass", steps: int = 5) -> None:
    """An `mdlm-eval run --tasks T,T_sampled` folder: greedy 0/1 per document, and `sampled[d]` of n generations
    of document d right."""
    cell = study / "ev" / name / f"{decoder}_{steps}"
    (cell / "toy").mkdir(parents=True)
    rows = [{"doc_id": d, "doc_hash": f"h{d}", "doc": DOCS[d], "resps": [[RIGHT[d]] * c + ["\\boxed{1}"] * (n - c)]}
            for d, c in enumerate(sampled)]
    (cell / "toy" / f"samples_{TASK}_sampled_2026.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    acc = sum(greedy) / len(greedy)
    manifest = {"peft": peft, "decoder": decoder, "steps": steps,
                "scores": {TASK: {"acc": acc, "acc_exact": acc}, f"{TASK}_sampled": {"acc": 0.0}},
                "per_task": {TASK: {"n": len(greedy)}, f"{TASK}_sampled": {"n": len(sampled)}}}
    (cell / "manifest.json").write_text(json.dumps(manifest))


def test_report_gives_mean_and_se_across_seeds_paired_differences_sampled_scores_and_curves(
        tmp_path, monkeypatch, capsys):
    study = tmp_path / "study"
    evaluation(study, "base", None, greedy=[0, 0], sampled=[1, 0])
    evaluation(study, "cj-s1", training_run(study, "cj-s1", seed=1), greedy=[1, 0], sampled=[4, 0])
    evaluation(study, "cj-s2", training_run(study, "cj-s2", seed=2), greedy=[1, 1], sampled=[2, 2])
    evaluation(study, "cj-s1-200", training_run(study, "cj-s1-200", seed=1, steps=200), greedy=[0, 0], sampled=[1, 1])
    evaluation(study, "std", training_run(study, "std", scale_rewards=True), greedy=[0, 1], sampled=[0, 0])
    solved = {"countdown": ["exact"], "sudoku": ["d1_sudoku"]}
    d1_rollouts = dict(decoder="semi_ar", decode_steps="half", decoder_overrides={"block_length": 8})  # the default
    evaluation(study, "exact", training_run(study, "exact", method="diffu-grpo", rewards=solved, **d1_rollouts),
               greedy=[0, 0], sampled=[0, 0])
    evaluation(study, "lr", training_run(study, "lr", seed=3, lr=1e-4, decoder="full_diffusion"), [1, 1], [4, 4])

    code, out, err = run_cli(monkeypatch, capsys, "train", "report", str(study / "ev"), "--out", str(tmp_path / "out"))
    assert code == 0, err
    scores = pd.read_csv(tmp_path / "out" / "scores.csv", keep_default_na=False)
    cj = scores[(scores["method"] == "cj-grpo") & (scores["variant"] == "") & (scores["steps"] == 400)]
    assert sorted(cj["greedy"]) == [50.0, 100.0]
    # seed 1: 4 of 4 and 0 of 4 right: sampled mean 50, pass@4 50; seed 2: 2 of 4 twice: mean 50, pass@4 100
    assert sorted(cj["sampled_mean"]) == [50.0, 50.0] and sorted(cj["pass_at_k"]) == [50.0, 100.0]
    assert set(scores["variant"]) == {"", "std-scaled advantages", "reward exact", "lr 0.0001, rollouts full_diffusion log"}
    table = (tmp_path / "out" / "table.md").read_text()
    assert "| greedy | sampled mean | pass@4 |" in table
    # greedy 75 +- 25 (SE of 50 and 100) across the two seeds against the base's 0; pass@4 75 +- 25 against the base's 50
    assert (f"| {TASK} (acc) | eoser_ass 5 steps | cj-grpo | 400 | 2 | 75.0 ± 25.0 (+75.0 ± 25.0) | "
            "50.0 ± 0.0 (+37.5 ± 0.0) | 75.0 ± 25.0 (+25.0 ± 25.0) |") in table
    assert f"| {TASK} (acc) | eoser_ass 5 steps | cj-grpo (std-scaled advantages) | 400 | 1 | 50.0 (+50.0) |" in table
    assert "| diffu-grpo (reward exact) |" in table and "| base | 0 | 1 | 0.0 | 12.5 | 50.0 |" in table
    assert (tmp_path / "out" / "curves.png").stat().st_size > 10_000
    logs = sorted(p.name for p in (tmp_path / "out" / "logs").iterdir())  # one log per run, at its largest steps
    assert logs == [f"cj-grpo-{TASK}-lr_0.0001_rollouts_full_diffusion_log-s3.tsv", f"cj-grpo-{TASK}-s1.tsv",
                    f"cj-grpo-{TASK}-s2.tsv", f"cj-grpo-{TASK}-std-scaled_advantages-s1.tsv",
                    f"diffu-grpo-{TASK}-reward_exact-s1.tsv"]
    assert len((tmp_path / "out" / "logs" / logs[0]).read_text().splitlines()) == 401
    assert "written" in out and "curves.png" in out


@pytest.mark.parametrize("case, message", [("empty", "no evaluation run folder (manifest.json)"),
                                           ("no config", "no training config.yaml beside the adapter")])
def test_report_bad_input_is_one_line(tmp_path, monkeypatch, capsys, case, message):
    study = tmp_path / "study"
    study.mkdir()
    if case == "no config":
        evaluation(study, "lost", "somewhere/adapter", greedy=[1, 0], sampled=[1, 1])
    code, out, err = run_cli(monkeypatch, capsys, "train", "report", str(study), "--out", str(tmp_path / "out"))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
