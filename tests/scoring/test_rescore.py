"""`mdlm-eval rescore`: d1's 12 published setups reproduced item for item, bad files, lm-eval samples."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mdlm_eval.errors import UsageError
from mdlm_eval.rescore import rescore, table

# What d1's own eval/parse_and_get_acc.py gives on its published generations (run on them at commit
# 837888f): correct, total, and the sha256 (first 16 hex digits) of json.dumps(items), items being the
# per-generation is_correct as 0/1 (correct_cells for Sudoku) in rank order, then file order.
D1_SETUPS = {
    "countdown_instruct_128_64": (53, 256, "2ecfde86b1f7c7ec"),
    "countdown_instruct_256_128": (50, 256, "49be9e5578f04567"),
    "countdown_instruct_512_256": (41, 256, "94242288b031d238"),
    "gsm8k_instruct_128_64": (783, 1130, "be6a0a7dd739c390"),
    "gsm8k_instruct_256_128": (863, 1130, "c6afe96345aa90e9"),
    "gsm8k_instruct_512_256": (883, 1130, "5ab80a9c0620a01c"),
    "math500_instruct_128_64": (130, 500, "157d209aa28b2d98"),
    "math500_instruct_256_128": (162, 500, "1481f4be9bccbde3"),
    "math500_instruct_512_256": (181, 500, "ed0f1a14a08a58a8"),
    "sudoku_instruct_128_64": (240, 2048, "11788342fd4a87e9"),
    "sudoku_instruct_256_128": (137, 2048, "d257a5984e03d0da"),
    "sudoku_instruct_512_256": (112, 2048, "4c7263736ab8fca1"),
}
# The d1 README's accuracies (percent, 4 decimals).
D1_ACCURACY = {
    "countdown_instruct_128_64": 20.7031, "countdown_instruct_256_128": 19.5312,
    "countdown_instruct_512_256": 16.0156, "gsm8k_instruct_128_64": 69.2920,
    "gsm8k_instruct_256_128": 76.3717, "gsm8k_instruct_512_256": 78.1416,
    "math500_instruct_128_64": 26.0, "math500_instruct_256_128": 32.4, "math500_instruct_512_256": 36.2,
    "sudoku_instruct_128_64": 11.7188, "sudoku_instruct_256_128": 6.6895, "sudoku_instruct_512_256": 5.4688,
}  # fmt: skip
# The robust metric on the same generations (the README's robust-vs-paper table): name, correct, total.
ROBUST = {
    "countdown_instruct_128_64": ("acc_exact", 54, 256), "countdown_instruct_256_128": ("acc_exact", 49, 256),
    "countdown_instruct_512_256": ("acc_exact", 41, 256),
    "gsm8k_instruct_128_64": ("acc_math_verify", 789, 1130), "gsm8k_instruct_256_128": ("acc_math_verify", 873, 1130),
    "gsm8k_instruct_512_256": ("acc_math_verify", 889, 1130),
    "math500_instruct_128_64": ("acc_math_verify", 146, 500), "math500_instruct_256_128": ("acc_math_verify", 180, 500),
    "math500_instruct_512_256": ("acc_math_verify", 199, 500),
    "sudoku_instruct_128_64": ("solved", 1, 256), "sudoku_instruct_256_128": ("solved", 0, 256),
    "sudoku_instruct_512_256": ("solved", 0, 256),
}  # fmt: skip

CLI = [str(Path(sys.executable).with_name("mdlm-eval"))]


def _digest(items: list) -> str:
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]


@pytest.fixture(scope="module")
def d1_rescored(d1_baselines: Path) -> dict:
    """The CLI's JSON on the whole d1_baselines folder (run once: math-verify takes some seconds)."""
    command = [*CLI, "rescore", "--format", "d1", "--json", str(d1_baselines)]
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_the_12_setups_of_d1_are_reproduced_item_for_item(d1_rescored: dict) -> None:
    assert sorted(d1_rescored) == sorted(D1_SETUPS)
    for setup, (correct, total, digest) in D1_SETUPS.items():
        scores = d1_rescored[setup]
        assert (scores["correct"], scores["total"]) == (correct, total), setup
        assert round(scores["accuracy"], 4) == D1_ACCURACY[setup], setup
        assert _digest(scores["items"]) == digest, setup


def test_items_count_cells_for_sudoku_and_answers_elsewhere(d1_rescored: dict) -> None:
    for setup, scores in d1_rescored.items():
        assert scores["task"] in setup
        if scores["task"] == "sudoku":
            assert len(scores["items"]) == 256 and max(scores["items"]) <= 8
        else:
            assert len(scores["items"]) == scores["total"] and set(scores["items"]) <= {0, 1}


def test_robust_metrics_on_d1_generations(d1_rescored: dict) -> None:
    for setup, (metric, correct, total) in ROBUST.items():
        robust = d1_rescored[setup][metric]
        assert (robust["correct"], robust["total"], len(robust["items"])) == (correct, total, total), setup


def test_files_are_grouped_by_setup_in_rank_order(d1_baselines: Path) -> None:
    files = [d1_baselines / f"countdown_instruct_128_64_{rank}_generations.json" for rank in (6, 0, 3)]
    scores = rescore(files).setups["countdown_instruct_128_64"]
    assert scores["files"] == [f"countdown_instruct_128_64_{rank}_generations.json" for rank in (0, 3, 6)]


def test_bad_files_are_named_one_line_each_and_the_others_still_scored(tmp_path: Path, d1_baselines: Path) -> None:
    (tmp_path / "math500_x_0_generations.json").write_text("{not json")
    (tmp_path / "gsm8k_x_0_generations.json").write_text(json.dumps({"generations": [{"question": "q"}]}))
    (tmp_path / "mystery_0_generations.json").write_text(json.dumps({"generations": []}))
    (tmp_path / "sudoku_x_0_generations.json").write_text(json.dumps([1, 2]))
    good = d1_baselines / "countdown_instruct_128_64_0_generations.json"
    run = subprocess.run([*CLI, "rescore", "--json", str(tmp_path), str(good)], capture_output=True, text=True)
    assert run.returncode == 2
    assert list(json.loads(run.stdout)) == ["countdown_instruct_128_64"]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 4
    for name in ("math500_x_0", "gsm8k_x_0", "mystery_0", "sudoku_x_0"):
        assert sum(name in line for line in lines) == 1
    assert all(line.startswith("mdlm-eval: error: ") for line in lines)


def test_task_option_overrides_the_name(tmp_path: Path, d1_items: dict) -> None:
    items = d1_items["countdown_instruct_128_64"][:20]
    path = tmp_path / "run_7_generations.json"
    path.write_text(json.dumps({"generations": items}))
    assert rescore([path]).errors and not rescore([path]).setups
    scores = rescore([path], task="countdown").setups["run"]
    assert scores["task"] == "countdown" and scores["total"] == 20


def test_unknown_format_or_task_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--format"):
        rescore([tmp_path], fmt="csv")
    with pytest.raises(UsageError, match="--task"):
        rescore([tmp_path], task="chess")
    assert rescore([tmp_path / "absent.json"]).errors == [f"{tmp_path / 'absent.json'}: no such file or folder"]


def test_lm_eval_samples_files_score_like_d1_files(tmp_path: Path, d1_items: dict) -> None:
    """A samples file as lm-eval writes it (doc, filtered_resps, ...) gives the same scores as d1's file."""
    items = d1_items["sudoku_instruct_128_64"]
    folder = tmp_path / "model_name"
    folder.mkdir()
    with open(folder / "samples_mdlm_sudoku_2025-01-01T00-00-00.000000.jsonl", "w") as out:
        for doc_id, item in enumerate(items):
            doc = {"puzzle": item["question"][-17:-1], "solution": item["ground_truth"], "question": item["question"]}
            sample = {"doc_id": doc_id, "doc": doc, "target": doc["solution"], "resps": [[item["generations"]]],
                      "filtered_resps": [item["generations"]], "filter": "none"}  # fmt: skip
            out.write(json.dumps(sample) + "\n")
    report = rescore([tmp_path], fmt="samples")
    assert report.errors == []
    scores = report.setups["model_name/mdlm_sudoku_2025-01-01T00-00-00.000000"]
    assert (scores["task"], scores["correct"], scores["total"]) == ("sudoku", 240, 2048)
    assert _digest(scores["items"]) == D1_SETUPS["sudoku_instruct_128_64"][2]
    assert scores["solved"]["correct"] == 1


def test_samples_of_a_run_folder_are_labelled_with_its_decoder(tmp_path: Path, d1_items: dict) -> None:
    """Inside a run folder of `mdlm-eval run` (manifest.json beside the lm-eval model folder) the setup is named by
    the run folder, which names decoder, steps and length."""
    item = d1_items["sudoku_instruct_128_64"][0]
    run = tmp_path / "toy" / "eoser_ass_steps-log_L32"
    (run / "toy").mkdir(parents=True)
    (run / "manifest.json").write_text("{}")
    doc = {"puzzle": item["question"][-17:-1], "solution": item["ground_truth"], "question": item["question"]}
    sample = {"doc_id": 0, "doc": doc, "filtered_resps": [item["generations"]]}
    (run / "toy" / "samples_mdlm_sudoku_2025-01-01T00-00-00.jsonl").write_text(json.dumps(sample) + "\n")
    assert list(rescore([tmp_path], fmt="samples").setups) == ["toy/eoser_ass_steps-log_L32/mdlm_sudoku_2025-01-01T00-00-00"]


def test_bad_samples_lines_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "samples_mdlm_countdown_x.jsonl"
    path.write_text(json.dumps({"doc": {"numbers": [1, 2, 3]}, "filtered_resps": ["x"]}) + "\n")
    assert "line 1" in rescore([path], fmt="samples").errors[0]
    path.write_text("[]\n")
    assert "line 1" in rescore([path], fmt="samples").errors[0]


def test_table_shows_both_metrics(d1_items: dict, tmp_path: Path) -> None:
    path = tmp_path / "countdown_run_0_generations.json"
    path.write_text(json.dumps({"generations": d1_items["countdown_instruct_128_64"][:8]}))
    text = table(rescore([path]).setups, columns=200)
    assert "countdown_run" in text and "acc_exact" in text and "/8)" in text
