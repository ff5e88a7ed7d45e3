"""The leaderboard: results folders in lm-eval's format (written here) -> tables, reference join, plots, errors."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mdlm_eval.leaderboard import REFERENCE_COLUMNS, REFERENCE_DIR, build_leaderboard, build_tables, load_reference
from tests.cli_helpers import run_cli


def write_run(root: Path, *, model: str = "toy", decoder: str = "semi_ar", steps: str = "half", gen_length: int = 32,
              scores: dict[str, float], manifest: dict | None = None, date: str = "2025-01-01T00-00-00.000001",
              trace: list[dict] | None = None, seconds: float = 8.0, n: int = 4) -> Path:
    """A run folder as `mdlm-eval run` leaves it: <run>/<model>/results_<date>.json, samples, manifest.json."""
    run = root / Path(model).name / f"{decoder}_steps-{steps}_L{gen_length}"
    inner = run / model.replace("/", "__")
    inner.mkdir(parents=True, exist_ok=True)
    results = {
        "results": {task: {"alias": task, "acc,none": v, "acc_stderr,none": 0.1} for task, v in scores.items()},
        "higher_is_better": {task: {"acc": True} for task in scores},
        "n-samples": {task: {"original": 100, "effective": n} for task in scores},
        "config": {"model": "mdlm", "model_args": f"pretrained={model},decoder={decoder},gen_length={gen_length},"
                                                  f"steps={steps},batch_size=8,seed=0"},
        "total_evaluation_time_seconds": str(seconds),
    }
    (inner / f"results_{date}.json").write_text(json.dumps(results))
    for task in scores:
        lines = trace or [{"doc_id": 0, "resps": [["x"]]}]
        (inner / f"samples_{task}_{date}.jsonl").write_text("".join(json.dumps(s) + "\n" for s in lines))
    if manifest is not None:
        manifest.get("decoder_spec", {}).setdefault("name", decoder)  # DecoderSpec.to_dict() has the preset name
        (run / "manifest.json").write_text(json.dumps({"status": "complete", "model": model, "peft": None,
                                                        "decoder": decoder, "gen_length": gen_length, **manifest}))
    return inner / f"results_{date}.json"


TRACE = [  # L = 4, 2 steps: the right end (EOS) unmasked first
    {"doc_id": 0, "trace_step": [1, 1, 0, 0], "trace_eos": [0, 0, 1, 1]},
    {"doc_id": 1, "trace_step": [1, 0, 1, 0], "trace_eos": [0, 0, 0, 1]},
]


def manifest_for(nfe: float, steps: int, block: int | None, seconds: float = 0.5) -> dict:
    schedule = "ascending" if block is None else "uniform"
    return {"steps": steps, "nfe_per_sample": nfe, "tokens_per_forward": 32 / nfe, "seconds_per_sample": seconds,
            "samples": 4, "decoder_spec": {"schedule": schedule, "steps": steps, "block_length": block}}


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    write_run(root, decoder="semi_ar", steps="half", scores={"toy_sudoku": 0.5, "toy_countdown": 0.25},
              manifest=manifest_for(16, 16, 32, seconds=0.8))
    write_run(root, decoder="eoser_ass", steps="log", scores={"toy_sudoku": 0.75, "toy_countdown": 0.125},
              manifest=manifest_for(5, 5, None, seconds=0.3), trace=TRACE)
    write_run(root, decoder="full_diffusion", steps="log", scores={"toy_sudoku": 0.25}, seconds=4.0, n=4)  # no manifest
    return root


def board_of(root: Path, reference: Path | None = None):
    warnings: list[str] = []
    return build_tables(root, reference, warnings.append), warnings


def test_one_row_per_setting_with_score_and_cost_columns(results: Path) -> None:
    board, warnings = board_of(results)
    runs = board.runs.set_index("decoder")
    assert warnings == []
    assert sorted(runs.index) == ["eoser_ass", "full_diffusion", "semi_ar"]
    assert board.scores == ["toy_countdown/acc", "toy_sudoku/acc"]
    assert runs.at["eoser_ass", "toy_sudoku/acc"] == pytest.approx(75.0)  # percent
    assert pd.isna(runs.at["full_diffusion", "toy_countdown/acc"])
    # from the manifest: measured cost, resolved steps, block length from the decoder spec
    assert runs.at["semi_ar", "nfe_per_sample"] == 16 and runs.at["semi_ar", "seconds_per_sample"] == 0.8
    assert runs.at["semi_ar", "steps"] == 16 and runs.at["semi_ar", "block_length"] == 32
    assert pd.isna(runs.at["eoser_ass", "block_length"])
    # without a manifest: from model_args (full diffusion, log2 32 = 5 steps, one block of 32) and lm-eval's timing
    assert runs.at["full_diffusion", "steps"] == 5 and runs.at["full_diffusion", "nfe_per_sample"] == 5
    assert runs.at["full_diffusion", "block_length"] == 32
    assert runs.at["full_diffusion", "tokens_per_forward"] == pytest.approx(32 / 5)
    assert runs.at["full_diffusion", "seconds_per_sample"] == pytest.approx(1.0)  # 4 s / 4 samples
    assert runs.at["full_diffusion", "cost_from"] == "model_args"


def test_a_newer_results_file_of_the_same_setting_wins(results: Path) -> None:
    write_run(results, decoder="full_diffusion", steps="log", scores={"toy_sudoku": 0.5},
              date="2025-02-01T00-00-00.000001")
    board, _ = board_of(results)
    runs = board.runs.set_index("decoder")
    assert len(board.runs) == 3
    assert runs.at["full_diffusion", "toy_sudoku/acc"] == pytest.approx(50.0)


def test_writes_tables_plots_and_a_self_contained_page(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = build_leaderboard(results, out, reference_dir=None)
    assert {p.name for p in written} >= {"leaderboard.md", "leaderboard.csv", "leaderboard.html"}
    pngs = sorted(p.name for p in (out / "leaderboard_plots").glob("*.png"))
    assert "nfe_toy_sudoku_acc.png" in pngs and "nfe_toy_countdown_acc.png" in pngs
    assert [p for p in pngs if p.startswith("order_")] == ["order_toy_eoser_ass_steps_5_L_32.png"]  # the traced run
    assert all((out / "leaderboard_plots" / p).read_bytes().startswith(b"\x89PNG") for p in pngs)
    page = (out / "leaderboard.html").read_text()
    assert page.count("data:image/png;base64,") == len(pngs) and "<img" in page and 'src="leaderboard_plots' not in page
    csv = pd.read_csv(out / "leaderboard.csv")
    assert list(csv.columns[:6]) == ["model", "adapter", "decoder", "steps", "gen_length", "block_length"]
    assert {"toy_sudoku/acc", "nfe_per_sample", "tokens_per_forward", "seconds_per_sample", "best_in"} <= set(csv.columns)
    assert not list(out.glob(".*tmp*"))  # temp files renamed away


def test_best_value_per_column_is_marked(results: Path, tmp_path: Path) -> None:
    build_leaderboard(results, tmp_path, reference_dir=None)
    csv = pd.read_csv(tmp_path / "leaderboard.csv", keep_default_na=False).set_index("decoder")
    assert set(csv.at["eoser_ass", "best_in"].split(";")) == {"toy_sudoku/acc", "nfe_per_sample", "tokens_per_forward",
                                                              "seconds_per_sample"}
    assert csv.at["semi_ar", "best_in"] == "toy_countdown/acc"
    md = (tmp_path / "leaderboard.md").read_text()
    row = next(line for line in md.splitlines() if "| eoser_ass |" in line)
    assert "**75.00**" in row and "**5**" in row and "**0.3**" in row
    assert "**12.50**" not in md  # countdown's worst is not marked
    assert "**32**" not in md  # L is not a score; and a column where all runs tie has no best


def test_decoding_order_heatmap_counts_steps_and_eos(results: Path) -> None:
    from mdlm_eval.leaderboard import trace_matrix

    samples = next(results.rglob("samples_toy_sudoku_*.jsonl"))
    board, _ = board_of(results)
    assert board.runs.set_index("decoder").at["eoser_ass", "trace_files"]
    counts, eos, n = trace_matrix(samples)
    assert n == 2
    assert counts.tolist() == [[0, 1, 1, 2], [2, 1, 1, 0]]  # [step, position]
    assert eos.tolist() == [[0, 0, 1, 2], [0, 0, 0, 0]]


LLADA = "GSAI-ML/LLaDA-8B-Instruct"


def test_a_run_with_a_published_protocol_shows_the_difference(tmp_path: Path) -> None:
    root = tmp_path / "results"
    spec = {"schedule": "uniform", "steps": 64, "block_length": 32}
    write_run(root, model=LLADA, decoder="semi_ar", steps="half", gen_length=128,
              scores={"mdlm_gsm8k": 0.70, "mdlm_sudoku": 0.10},
              manifest={"steps": 64, "nfe_per_sample": 64.0, "tokens_per_forward": 2.0, "seconds_per_sample": 1.0,
                        "decoder_spec": spec})
    write_run(root, model=LLADA, decoder="semi_ar", steps="log", gen_length=128, scores={"mdlm_gsm8k": 0.40})
    board, _ = board_of(root, REFERENCE_DIR)
    cmp = board.comparison.set_index(["task", "source"])
    assert set(cmp.index.get_level_values("task")) == {"mdlm_gsm8k", "mdlm_sudoku"}  # the log-steps run matches nothing
    d1 = cmp.loc[("mdlm_gsm8k", "d1 arXiv 2504.12216 Table 1 (LLaDA-8B-Instruct)")]
    assert (d1["published"], d1["diff"], d1["gen_length"]) == (68.7, pytest.approx(1.3), 128)
    eoser_fig = cmp.loc[[k for k in cmp.index if k[0] == "mdlm_gsm8k" and "EOSER" in k[1]][0]]
    assert eoser_fig["diff"] == pytest.approx(70.0 - 70.2)
    assert not any("d1-LLaDA" in s for s in board.comparison["source"])  # the adapter row needs the adapter
    build_leaderboard(root, tmp_path, reference_dir=REFERENCE_DIR)
    md = (tmp_path / "leaderboard.md").read_text()
    assert "| 70.00 | 68.70 | 1.30 |" in md and "Published numbers" in md


def test_shipped_reference_files_are_complete_and_cited() -> None:
    reference = load_reference(REFERENCE_DIR, pytest.fail)
    assert list(reference.columns) == REFERENCE_COLUMNS
    assert reference["value"].notna().all() and (reference["source"].str.len() > 0).all()
    d1 = reference[reference["source"].str.startswith("d1 arXiv 2504.12216 Table 1")]
    assert len(d1) == 24 and set(d1["gen_length"]) == {"128", "256", "512"}
    row = d1[(d1["adapter"] == "") & (d1["task"] == "mdlm_math500") & (d1["gen_length"] == "512")]
    assert row["value"].tolist() == [36.2] and row["steps"].tolist() == ["256"]


def test_cli_warns_about_bad_files_and_goes_on(results: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    bad = results / "broken"
    bad.mkdir()
    (bad / "results_truncated.json").write_text('{"results": {"toy_sudoku": {"acc,none": 0.')
    (bad / "results_other.json").write_text(json.dumps({"accuracy": 0.9, "harness": "someone else's"}))
    (bad / "results_binary.json").write_bytes(b"\xff\xfe\x00garbage")
    code, out, err = run_cli(monkeypatch, capsys, "leaderboard", str(results), "--out", str(tmp_path / "out"),
                             "--reference", str(tmp_path / "none"))
    assert code == 0
    for name, why in (("results_truncated.json", "truncated or not JSON"), ("results_other.json", "not an lm-eval"),
                      ("results_binary.json", "not")):
        assert any(name in line and why in line and "warning" in line for line in err.splitlines()), (name, err)
    assert len(pd.read_csv(tmp_path / "out" / "leaderboard.csv")) == 3
    assert "leaderboard.md" in out


def test_cli_empty_folder_is_a_usage_error(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(monkeypatch, capsys, "leaderboard", str(tmp_path / "empty"))
    assert code == 2
    assert err.strip().count("\n") == 0 and "no lm-eval results files" in err
    assert not (tmp_path / "empty" / "leaderboard.md").exists()
    code, _, err = run_cli(monkeypatch, capsys, "leaderboard", str(tmp_path / "missing"))
    assert code == 2 and "does not exist" in err
