"""The leaderboard: results folders in lm-eval's format (written here) -> rows, tables, reference join, plots, page."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from mdlm_eval.leaderboard import (REFERENCE_COLUMNS, REFERENCE_DIR, browser, build_leaderboard, build_tables,
                                   chromium, family, load_reference, screenshot, spread, trace_matrix)
from tests.cli_helpers import run_cli

SPEC = {"schedule": "uniform", "block_length": 32, "block_num": 1, "remasking": "low_confidence", "eos_policy": "none",
        "gamma_schedule": "linear", "eos_min_gamma": 0.4, "eos_max_gamma": 1.0, "temperature": 0.0, "cfg_scale": 0.0}


def write_run(root: Path, *, folder: str | None = None, model: str = "toy", peft: str | None = None,
              decoder: str = "semi_ar", steps: int | str = 16, gen_length: int = 32,
              scores: dict[str, float | tuple[float, float | str]], n: int = 4, spec: dict | None = None,
              manifest: dict | None = None, nfe: float | None = None, limit: int | None = None, seed: int = 0,
              date: str = "2025-01-01T00-00-00.000001", trace: list[dict] | None = None, seconds: float = 8.0,
              group: dict | None = None, config: dict | None = None) -> Path:
    """A run folder as `mdlm-eval run` leaves it: <run>/<model>/results_<date>.json, samples, manifest.json.

    `scores` maps task -> acc or (acc, stderr); with `nfe` (or `manifest`) a complete manifest is written;
    `group` = {"name": ..., "kinds": {task: aggregation}} adds an lm-eval group averaging the tasks' acc.
    """
    run = root / (folder or f"{decoder}_{steps}_L{gen_length}_{date}")
    inner = run / model.replace("/", "__")
    inner.mkdir(parents=True, exist_ok=True)
    results, configs = {}, {}
    for task, value in scores.items():
        acc, stderr = value if isinstance(value, tuple) else (value, 0.1)
        results[task] = {"alias": task, "acc,none": acc, "acc_stderr,none": stderr}
        configs[task] = {"metric_list": [{"metric": "acc", "aggregation": (group or {}).get("kinds", {}).get(task, "mean")}]}
    data = {
        "results": results, "configs": configs,
        "higher_is_better": {task: {"acc": True} for task in scores},
        "n-samples": {task: {"original": 100, "effective": n} for task in scores},
        "config": {"model": "mdlm", "limit": limit, "model_args": f"pretrained={model},decoder={decoder},"
                   f"gen_length={gen_length},steps={steps},batch_size=8,seed={seed}" + (f",peft={peft}" if peft else ""),
                   **(config or {})},
        "total_evaluation_time_seconds": str(seconds),
    }
    if group:
        mean = sum(data["results"][t]["acc,none"] for t in scores) / len(scores)
        data["results"][group["name"]] = {"alias": group["name"], "acc,none": mean, "acc_stderr,none": "N/A",
                                          "sample_len": n * len(scores)}
        data["group_subtasks"] = {group["name"]: list(scores), **{t: [] for t in scores}}
        data["higher_is_better"][group["name"]] = {"acc": True}
    (inner / f"results_{date}.json").write_text(json.dumps(data))
    for task in scores:
        lines = trace or [{"doc_id": 0, "resps": [["x"]]}]
        (inner / f"samples_{task}_{date}.jsonl").write_text("".join(json.dumps(s) + "\n" for s in lines))
    if nfe is not None or manifest is not None:
        m = {"status": "complete", "model": model, "peft": peft, "decoder": decoder, "gen_length": gen_length,
             "steps": steps, "steps_arg": steps, "seed": seed, "limit": limit, "samples": n * len(scores),
             "decoder_spec": {"name": decoder, "description": "", "steps": steps, **SPEC, **(spec or {})},
             "nfe_per_sample": nfe, "tokens_per_forward": gen_length / nfe if nfe else None,
             "seconds_per_sample": 0.5, "early_eos_share": 0.25, **(manifest or {})}
        (run / "manifest.json").write_text(json.dumps(m))
    return inner / f"results_{date}.json"


def board_of(root: Path, reference: Path | None = None):
    warnings: list[str] = []
    return build_tables(root, reference, warnings.append), warnings


def table_rows(md: str, title: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the Markdown table under the heading `title`."""
    lines = md.split(f"## {title}\n", 1)[1].splitlines()
    table = [line for line in lines[: next(i for i, l in enumerate(lines) if l.startswith("#") and i)]
             if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split(" | ")] for line in table]
    return cells[0], cells[2:]


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """Greedy and temperature-0.7 semi-AR (same everything else), a --limit 2 run of the greedy setting, EOSER+ASS
    with a trace, and full diffusion without a manifest; all with an lm-eval group that averages two kinds."""
    root = tmp_path / "results"
    group = {"name": "toy_group", "kinds": {"toy_sudoku": "cell_accuracy", "toy_countdown": "mean"}}
    write_run(root, scores={"toy_sudoku": (0.5, 0.25), "toy_countdown": (0.25, "N/A")}, nfe=16, group=group)
    write_run(root, scores={"toy_sudoku": 0.25, "toy_countdown": 0.5}, nfe=16, spec={"temperature": 0.7},
              group=group, folder="semi_ar_t07")
    write_run(root, scores={"toy_sudoku": 1.0, "toy_countdown": 1.0}, nfe=16, limit=2, n=2, group=group,
              folder="semi_ar_limit2")
    write_run(root, decoder="eoser_ass", steps=5, scores={"toy_sudoku": 0.75, "toy_countdown": 0.125}, nfe=5,
              spec={"schedule": "ascending", "block_length": None, "eos_policy": "eoser", "gamma_schedule": "power"},
              trace=TRACE, group=group)
    write_run(root, decoder="full_diffusion", steps="log", scores={"toy_sudoku": 0.25})  # no manifest
    return root


TRACE = [  # L = 4, 2 steps: the right end (EOS) unmasked first
    {"doc_id": 0, "trace_step": [1, 1, 0, 0], "trace_eos": [0, 0, 1, 1]},
    {"doc_id": 1, "trace_step": [1, 0, 1, 0], "trace_eos": [0, 0, 0, 1]},
]


def test_a_row_is_one_resolved_setting_with_its_sample_count(results: Path) -> None:
    board, warnings = board_of(results)
    assert warnings == []
    runs = board.runs
    assert len(runs) == 5  # temperature 0 / 0.7 and the --limit run are rows of their own
    semi = {(r["temperature"], r["limit"]): r for _, r in runs[runs["decoder"] == "semi_ar"].iterrows()}
    assert sorted(semi, key=str) == [(0.0, 2), (0.0, None), (0.7, None)]
    assert semi[(0.0, None)]["samples"] == 8 and semi[(0.0, 2)]["samples"] == 4
    scores = board.scores.set_index(["run", "task", "metric"])
    full, limited = semi[(0.0, None)]["run"], semi[(0.0, 2)]["run"]
    assert scores.loc[(full, "toy_sudoku", "acc"), ["value", "stderr", "n"]].tolist() == [50.0, 25.0, 4]
    assert scores.loc[(limited, "toy_sudoku", "acc"), ["value", "n"]].tolist() == [100.0, 2]
    assert pd.isna(scores.loc[(full, "toy_countdown", "acc"), "stderr"])  # lm-eval's "N/A"
    # without a manifest: the preset's spec over model_args, steps and NFE from its plan (log2 32 = 5)
    fd = runs.set_index("decoder").loc["full_diffusion"]
    assert (fd["steps"], fd["nfe_per_sample"], fd["tokens_per_forward"], fd["cost_from"]) == (5, 5, 32 / 5, "model_args")
    assert fd["seconds_per_sample"] == pytest.approx(2.0) and fd["samples"] == 4 and fd["seed"] == 0
    assert board.tasks == ["toy_countdown", "toy_sudoku"] and set(board.groups) == {"toy_group"}


def test_task_tables_show_n_standard_errors_and_only_the_settings_that_differ(results: Path, tmp_path: Path) -> None:
    build_leaderboard(results, tmp_path, reference_dir=None)
    md = (tmp_path / "leaderboard.md").read_text()
    header, rows = table_rows(md, "toy_sudoku")
    # model, L, seed are shared (told above the table); temperature varies within semi_ar; limit varies
    assert header == ["decoder", "temperature", "steps", "limit", "n", "acc ± SE", "acc vs top [95% CI]",
                      "NFE/sample", "tokens/forward", "s/sample", "early EOS %"]
    assert "model toy, template default, L 32, seed 0; n 4, 2" in md
    by = {(r[0], r[1], r[3]): r for r in rows}
    assert by[("semi_ar", "0", "")][4:6] == ["4", "50.00 ± 25.00"]
    assert by[("semi_ar", "0.7", "")][5] == "25.00 ± 10.00"
    assert by[("semi_ar", "0", "2")][4:6] == ["2", "100.00 ± 10.00"]  # its own row with its own n, never bold
    # top among the n = 4 rows, but 25 points < 1.96 x sqrt(10² + 25²) above the runner-up: within noise, not bold
    assert by[("eoser_ass", "0", "")][5] == "75.00 ± 10.00"
    assert by[("eoser_ass", "0", "")][7:] == ["5", "6.40", "0.5", "25.0"]
    assert by[("full_diffusion", "0", "")][7:10] == ["5", "6.40", "2"]
    _, rows = table_rows(md, "toy_countdown")
    by = {(r[0], r[1], r[3]): r for r in rows}
    assert by[("semi_ar", "0", "")][5] == "25.00 †"  # no standard error from lm-eval
    assert by[("semi_ar", "0.7", "")][5] == "50.00 ± 10.00"  # the runner-up has no SE: noise unknown, not bold
    csv = pd.read_csv(tmp_path / "leaderboard.csv", keep_default_na=False)
    assert list(csv.columns[:7]) == ["model", "architecture", "adapter", "decoder", "steps", "gen_length", "block_length"]
    limited = csv[csv["limit"] == "2"].iloc[0]
    assert (limited["toy_sudoku/acc"], limited["toy_sudoku/acc stderr"], limited["toy_sudoku/acc n"]) == (100, 10, 2)
    assert limited["best_in"] == ""
    assert (csv["best_in"] == "").all()


def test_models_of_different_families_are_told_apart_by_their_architecture(tmp_path: Path) -> None:
    write_run(tmp_path, model="toy", scores={"toy_sudoku": 0.5}, nfe=16, config={"architecture": "mdlm_toy"})
    write_run(tmp_path, model="toy-bd", scores={"toy_sudoku": 0.25}, nfe=16,
              config={"architecture": "mdlm_toy, block-causal 8"}, date="2025-01-02T00-00-00.000001")
    out = tmp_path / "board"
    build_leaderboard(tmp_path, out, reference_dir=None)
    header, rows = table_rows((out / "leaderboard.md").read_text(), "toy_sudoku")
    assert header[:3] == ["model", "architecture", "decoder"]
    assert {tuple(r[:2]) for r in rows} == {("toy", "mdlm_toy"), ("toy-bd", "mdlm_toy, block-causal 8")}


def test_groups_are_shown_apart_with_what_lm_eval_averaged(results: Path, tmp_path: Path) -> None:
    build_leaderboard(results, tmp_path, reference_dir=None)
    md = (tmp_path / "leaderboard.md").read_text()
    assert "## toy_group" not in md and "nfe_toy_group" not in md
    assert not any("toy_group" in p.name for p in (tmp_path / "leaderboard_plots").iterdir())
    header, rows = table_rows(md, "lm-eval groups")
    assert header[:2] == ["group", "metric"] and header[-3:] == ["n", "score ± SE", "what lm-eval averaged"]
    assert len(rows) == 4
    greedy = next(r for r in rows if r[2] == "semi_ar" and r[3] == "0" and r[-3] == "8")
    assert greedy[-2:] == ["37.50 †", "mean of toy_sudoku, toy_countdown (mixes cell_accuracy with mean)"]
    assert md.index("## toy_sudoku") < md.index("## Published numbers") < md.index("## lm-eval groups")
    csv = pd.read_csv(tmp_path / "leaderboard.csv", keep_default_na=False)
    assert "toy_group/acc" in csv.columns and not any("toy_group" in b for b in csv["best_in"])


def test_new_spec_fields_old_manifests_and_measured_fractional_nfe(tmp_path: Path) -> None:
    root = tmp_path / "results"
    old_spec = {k: v for k, v in SPEC.items() if k != "cfg_scale"}  # an older manifest: a field missing
    write_run(root, scores={"t": 0.5}, nfe=16, folder="old", manifest={"decoder_spec": {
        "name": "semi_ar", "steps": 16, **old_spec}})
    write_run(root, scores={"t": 0.6}, nfe=16, folder="new", date="2025-02-01T00-00-00.000001",
              manifest={"samples_decoded": 0, "samples_reused": 4, "seconds_per_sample_from": "first run"})
    for tau, nfe, acc in ((0.9, 7.37, 0.4), (0.5, 3.5, 0.3)):  # adaptive: new fields, measured fractional NFE
        write_run(root, decoder="threshold", steps=32, scores={"t": acc}, nfe=nfe, folder=f"thr{tau}",
                  spec={"commit": "threshold", "threshold": tau, "cache": "none"})
    write_run(root, decoder="threshold", steps=32, scores={"t": 0.35}, nfe=6.12, folder="thr0.9prefix",
              spec={"commit": "threshold", "threshold": 0.9, "cache": "prefix"})
    write_run(root, decoder="threshold", steps=32, scores={"t": 0.2}, folder="nomanifest",  # no plan, no manifest
              config={"decoder_spec": {"name": "threshold", "steps": 32, **SPEC, "commit": "threshold",
                                       "threshold": 0.7}})
    warnings: list[str] = []
    build_leaderboard(root, tmp_path / "out", reference_dir=None, warn=warnings.append)
    plan, claim = sorted(warnings, key=lambda w: "claim the same row" in w)
    assert len(warnings) == 2 and "no fixed decoding plan" in plan and "NFE left empty" in plan
    assert claim.startswith("2 results files claim the same row (toy | semi_ar): old/") and "new/" in claim
    board, _ = board_of(root)
    # the old manifest takes DecoderSpec's default cfg_scale, so it is the same setting as the new one (newest wins)
    semi = board.runs[board.runs["decoder"] == "semi_ar"]
    assert len(semi) == 1 and semi["seconds_per_sample_from"].tolist() == ["first run"]
    assert {"commit", "threshold", "cache"} <= set(board.spec_fields)
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    header, rows = table_rows(md, "t")
    assert header[:4] == ["decoder", "cache", "threshold", "steps"]  # fields that vary within the threshold rows
    by = {(r[0], r[1], r[2]): r for r in rows}
    assert ("semi_ar", "none", "") in by  # a knob its commit rule never reads is left blank
    assert by[("threshold", "none", "0.9")][header.index("NFE/sample")] == "7.37"
    assert by[("threshold", "none", "0.7")][header.index("NFE/sample")] == ""  # no plan: empty, no failure
    assert by[("threshold", "none", "0.7")][header.index("acc ± SE")] == "20.00 ± 10.00"
    plots = sorted((tmp_path / "out" / "leaderboard_plots").glob("nfe_t_acc__*.png"))
    assert plots and all(p.read_bytes().startswith(b"\x89PNG") for p in plots)
    # cached beside uncached: the loss from caching in points
    header, rows = table_rows(md, "Cached against uncached decoding")
    assert header == ["cache", "decoder", "threshold", "steps", "t/acc L32"]
    assert rows == [["none", "threshold", "0.9", "32", "40.00"], ["prefix", "threshold", "0.9", "32", "35.00 (-5.00)"]]
    versus = pd.read_csv(tmp_path / "out" / "leaderboard_versus.csv")
    assert versus.set_index("cache").loc["prefix", "t/acc L32 vs base"] == pytest.approx(-5.0)
    # plot series: an adaptive decoder's thresholds join one line per cache mode; the run without NFE is left out
    planned = board.runs[board.runs["nfe_per_sample"].notna()]
    assert sorted(family(board, planned, i)[0] for i in planned.index) == [
        "semi_ar cache=none", "threshold cache=none", "threshold cache=none", "threshold cache=prefix"]


def test_accuracy_under_parallelism_of_each_knob_sweep(tmp_path: Path) -> None:
    root = tmp_path / "results"
    threshold = {"commit": "threshold", "cache": "none"}
    for tau, tpf, acc in ((0.9, 1.0, 0.80), (0.7, 2.0, 0.78), (0.5, 4.0, 0.60)):  # 60 < 80 - 5: dropped
        write_run(root, decoder="threshold", steps=32, scores={"t": acc}, nfe=8, folder=f"thr{tau}",
                  spec={**threshold, "threshold": tau}, manifest={"tpf": tpf})
    for steps, tpf, acc in ((32, 1.0, 0.75), (16, 2.0, 0.70), (8, None, 0.5)):  # a run without TPF is left out
        write_run(root, steps=steps, scores={"t": acc}, nfe=steps, folder=f"semi{steps}",
                  manifest={"tpf": tpf} if tpf else {})
    write_run(root, decoder="threshold", steps=32, scores={"t": 0.9}, nfe=8, folder="prefix",  # a sweep of one
              spec={**threshold, "threshold": 0.9, "cache": "prefix"}, manifest={"tpf": 1.5})
    build_leaderboard(root, tmp_path / "out", reference_dir=None)
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    header, rows = table_rows(md, "t/acc accuracy under parallelism (AUP)")
    assert header == ["setting", "knob", "values", "points", "TPF range", "AUP"]
    # y_max = 80, the best score of the sweeps' points (not the single run's 90); W(y) = min(exp(-3 (1 - y/80)), 1)
    # threshold: 1 x 80 + (2 - 1) (78 W(78) + 80 W(80)) / 2 = 80 + (78 x 0.927743 + 80 x 1) / 2 = 156.18
    # semi_ar:   1 x 75 + (2 - 1) (70 W(70) + 75 W(75)) / 2 = 75 + (70 x 0.687289 + 75 x 0.829029) / 2 = 130.14
    assert rows == [["threshold cache=none steps=32", "threshold", "0.9, 0.7, 0.5", "3", "1.00 - 4.00", "156.18"],
                    ["semi_ar cache=none", "steps", "32, 16", "2", "1.00 - 2.00", "130.14"]]
    assert "y_max = 80.00" in md and "**AUP**: accuracy under parallelism (d3LLM: arXiv 2601.07568" in md


def test_checkpoints_against_their_base_in_the_paper_layout(tmp_path: Path) -> None:
    root = tmp_path / "results"
    for peft, offset in ((None, 0.0), ("/ckpt/toy-cj-grpo", 0.25), ("toy-diffu-grpo", 0.125)):
        for decoder, steps, length, acc in (("semi_ar", "half", 32, 0.5), ("semi_ar", "half", 64, 0.375),
                                            ("eoser_ass", "log", 32, 0.125)):
            write_run(root, peft=peft, decoder=decoder, steps=steps, gen_length=length, scores={"cd": acc + offset},
                      nfe=length // 2 if steps == "half" else 5, folder=f"{peft}_{decoder}_{length}".replace("/", "_"))
    write_run(root, peft="toy-orphan", decoder="semi_ar", steps="half", scores={"cd": 0.5}, nfe=16, seed=1,
              folder="orphan")  # no base run with seed 1: not in the table
    build_leaderboard(root, tmp_path / "out", reference_dir=None)
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    header, rows = table_rows(md, "Checkpoints against their base model")
    assert header == ["adapter", "decoder", "steps", "cd/acc L32", "cd/acc L64"]
    assert rows == [
        ["", "eoser_ass", "log", "12.50", ""],
        ["toy-cj-grpo", "eoser_ass", "log", "37.50 (+25.00)", ""],
        ["toy-diffu-grpo", "eoser_ass", "log", "25.00 (+12.50)", ""],
        ["", "semi_ar", "half", "50.00", "37.50"],
        ["toy-cj-grpo", "semi_ar", "half", "75.00 (+25.00)", "62.50 (+25.00)"],
        ["toy-diffu-grpo", "semi_ar", "half", "62.50 (+12.50)", "50.00 (+12.50)"],
    ]
    page = (tmp_path / "out" / "leaderboard.html").read_text()
    assert "Checkpoints against their base model" in page and "62.50 (+25.00)" in page
    versus = pd.read_csv(tmp_path / "out" / "leaderboard_versus.csv", keep_default_na=False)
    row = versus[(versus["adapter"] == "toy-cj-grpo") & (versus["decoder"] == "semi_ar")].iloc[0]
    assert (float(row["cd/acc L64"]), float(row["cd/acc L64 vs base"]), row["comparison"]) == (62.5, 25.0,
                                                                                               "adapter vs base")


def test_checkpoint_table_gains_sampled_mean_and_pass_at_k_where_runs_sampled_repeatedly(tmp_path: Path) -> None:
    """Repeats (lm-eval `repeats`): every generation scored alone by the task's scorer; k = the fewest per prompt."""
    right, wrong = "\\boxed{1+2+3}", "\\boxed{1}"
    doc = {"numbers": [1, 2, 3], "target": 6, "question": "Numbers: [1, 2, 3]\nTarget: 6"}

    def samples(correct: list[int], n: int) -> list[dict]:
        return [{"doc_id": d, "doc_hash": f"h{d}", "doc": doc, "filter": "none", "metrics": ["acc"], "acc": int(c > 0),
                 "resps": [[right] * c + [wrong] * (n - c)]} for d, c in enumerate(correct)]

    root, task = tmp_path / "results", "mdlm_toy_countdown"
    write_run(root, peft=None, scores={task: 0.5}, nfe=16, trace=samples([1, 0, 0, 6], 6), folder="base")
    write_run(root, peft="toy-cj-grpo", scores={task: 0.75}, nfe=16, trace=samples([2, 2, 0, 4], 4), folder="cj")
    write_run(root, peft="toy-greedy", scores={task: 0.25}, nfe=16, folder="greedy")  # one generation: no columns
    build_leaderboard(root, tmp_path / "out", reference_dir=None)
    header, rows = table_rows((tmp_path / "out" / "leaderboard.md").read_text(), "Checkpoints against their base model")
    assert header[-3:] == [f"{task}/acc L32", f"{task}/acc L32 sampled mean", f"{task}/acc L32 pass@4"]
    by_adapter = {row[0]: row[-2:] for row in rows}
    # base: pass@4 of n = 6 with c = 1 is 1 - C(5,4)/C(6,4) = 2/3; with c = 6 it is 1
    assert by_adapter[""] == [f"{100 * (1 / 6 + 1) / 4:.2f}", f"{100 * (2 / 3 + 1) / 4:.2f}"]
    assert by_adapter["toy-cj-grpo"] == ["50.00", "75.00"]
    assert by_adapter["toy-greedy"] == ["", ""]
    versus = pd.read_csv(tmp_path / "out" / "leaderboard_versus.csv", keep_default_na=False)
    row = versus[versus["adapter"] == "toy-cj-grpo"].iloc[0]
    assert (float(row[f"{task}/acc L32 sampled mean"]), float(row[f"{task}/acc L32 pass@4"])) == (50.0, 75.0)


def test_sampled_scores_refuse_k_above_the_generations(tmp_path: Path) -> None:
    from mdlm_eval.leaderboard.sampled import sampled_scores

    path = tmp_path / "samples.jsonl"
    doc = {"numbers": [1, 2, 3], "target": 6}
    path.write_text(json.dumps({"doc_id": 0, "doc": doc, "resps": [["\\boxed{1+2+3}", "x", "y"]]}) + "\n")
    assert sampled_scores(str(path), "mdlm_countdown")["acc"].pass_at_k == pytest.approx(100.0)
    assert sampled_scores(str(path), "mdlm_countdown", 2)["acc_exact"].sampled_mean == pytest.approx(100 / 3)
    from mdlm_eval.errors import UsageError

    with pytest.raises(UsageError, match="pass@4 asks for more generations than the 3"):
        sampled_scores(str(path), "mdlm_countdown", 4)


def test_plot_labels_are_spread_apart_under_the_top() -> None:
    assert spread([1.0, 1.0, 5.0], 1.0, 10.0) == [1.0, 2.0, 5.0]
    assert spread([9.8, 9.9, 0.0], 1.0, 10.0) == [9.0, 10.0, 0.0]  # pushed down, order kept


def test_writes_tables_plots_and_a_self_contained_page(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = build_leaderboard(results, out, reference_dir=None)
    assert {p.name for p in written} >= {"leaderboard.md", "leaderboard.csv", "leaderboard.html"}
    assert not (out / "leaderboard_versus.csv").exists()  # nothing to compare against a base here
    pngs = sorted(p.name for p in (out / "leaderboard_plots").glob("*.png"))
    assert [p for p in pngs if p.startswith("nfe_")] == ["nfe_toy_countdown_acc__0_fixed-step_decoders.png",
                                                         "nfe_toy_sudoku_acc__0_fixed-step_decoders.png"]
    assert [p for p in pngs if p.startswith("order_")] == ["order_toy_eoser_ass_steps_5_L_32.png"]  # the traced run
    page = (out / "leaderboard.html").read_text()
    assert all(base64.b64encode((out / "leaderboard_plots" / p).read_bytes()).decode() in page for p in pngs)
    assert "src='leaderboard_plots" not in page
    # plots, then the task tables, the definitions, published numbers, then the rest
    order = [page.index(s) for s in ("<img", "id='task-toy_countdown'", "id='columns'", "Published numbers",
                                     "id='groups'", "Decoding order")]
    assert order == sorted(order)
    for term in ("NFE/sample", "tokens/forward", "early EOS %", "arXiv 2509.23924", "temperature", "limit", "n<"):
        assert term in page, term
    assert not list(out.glob(".*tmp*"))  # temp files renamed away


def test_decoding_order_heatmap_counts_steps_and_eos(results: Path) -> None:
    samples = next(results.rglob("samples_toy_sudoku_*.jsonl"))
    with_trace = [p for p in results.rglob("samples_toy_sudoku_*.jsonl") if "trace_step" in p.read_text()]
    counts, eos, n = trace_matrix(with_trace[0])
    assert n == 2 and samples.is_file()
    assert counts.tolist() == [[0, 1, 1, 2], [2, 1, 1, 0]]  # [step, position]
    assert eos.tolist() == [[0, 0, 1, 2], [0, 0, 0, 0]]


LLADA = "GSAI-ML/LLaDA-8B-Instruct"


def test_a_run_with_a_published_protocol_shows_the_difference(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_run(root, model=LLADA, decoder="semi_ar", steps=64, gen_length=128, nfe=64.0,
              scores={"mdlm_gsm8k": (0.70, 0.0126), "mdlm_sudoku": 0.10})
    write_run(root, model=LLADA, decoder="semi_ar", steps="log", gen_length=128, scores={"mdlm_gsm8k": 0.40})
    board, _ = board_of(root, REFERENCE_DIR)
    cmp = board.comparison.set_index(["task", "source"])
    assert set(cmp.index.get_level_values("task")) == {"mdlm_gsm8k", "mdlm_sudoku"}  # the log-steps run matches nothing
    d1 = cmp.loc[("mdlm_gsm8k", "d1 arXiv 2504.12216 Table 1 (LLaDA-8B-Instruct)")]
    assert (d1["published"], d1["diff"]) == (68.7, pytest.approx(1.3))
    eoser_fig = cmp.loc[[k for k in cmp.index if k[0] == "mdlm_gsm8k" and "EOSER" in k[1]][0]]
    assert eoser_fig["diff"] == pytest.approx(70.0 - 70.2)
    assert not any("d1-LLaDA" in s for s in board.comparison["source"])  # the adapter row needs the adapter
    build_leaderboard(root, tmp_path, reference_dir=REFERENCE_DIR)
    md = (tmp_path / "leaderboard.md").read_text()
    assert "| 70.00 ± 1.26 | 68.70 | +1.30 |" in md
    relevant, other = md.split("## Published numbers\n")[1].split("## Other published numbers")
    assert "DARE" in relevant and "Fast-dLLM" in relevant  # every published row of this model
    assert "Dream-v0-Base-7B" not in relevant and "Dream-v0-Base-7B" in other  # another model's: folded away


def test_shipped_reference_files_are_complete_and_cited() -> None:
    reference = load_reference(REFERENCE_DIR, pytest.fail)
    assert list(reference.columns) == REFERENCE_COLUMNS
    assert reference["value"].notna().all() and (reference["source"].str.len() > 0).all()
    d1 = reference[reference["source"].str.startswith("d1 arXiv 2504.12216 Table 1")]
    assert len(d1) == 24 and set(d1["gen_length"]) == {"128", "256", "512"}
    row = d1[(d1["adapter"] == "") & (d1["task"] == "mdlm_math500") & (d1["gen_length"] == "512")]
    assert row["value"].tolist() == [36.2] and row["steps"].tolist() == ["256"]
    dare = reference[reference["source"].str.startswith("DARE")]
    assert set(dare["adapter"]) == {"", "d1", "CJ-GRPO"} and len(dare) == 12


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
    assert len(pd.read_csv(tmp_path / "out" / "leaderboard.csv")) == 5
    assert "leaderboard.md" in out


def test_cli_empty_folder_is_a_usage_error(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(monkeypatch, capsys, "leaderboard", str(tmp_path / "empty"))
    assert code == 2
    assert err.strip().count("\n") == 0 and "no lm-eval results files" in err
    assert not (tmp_path / "empty" / "leaderboard.md").exists()
    code, _, err = run_cli(monkeypatch, capsys, "leaderboard", str(tmp_path / "missing"))
    assert code == 2 and "does not exist" in err


def test_cli_png_without_chromium_is_a_usage_error(results: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    code, _, err = run_cli(monkeypatch, capsys, "leaderboard", str(results), "--out", str(tmp_path / "out"),
                           "--png", str(tmp_path / "page.png"))
    assert code == 2 and err.strip().count("\n") == 0 and "--png needs Chromium" in err
    assert not (tmp_path / "out").exists()  # checked before any work


LAYOUT = """<script>window.addEventListener('load', function () {
  var img = document.querySelector('.plots img'), table = document.querySelector('table.sortable');
  var a = img.getBoundingClientRect(), b = table.getBoundingClientRect(), row = table.tBodies[0].rows[0];
  document.body.setAttribute('data-layout', JSON.stringify({img: [a.top, a.bottom, a.width], table: b.top,
    header: Array.from(table.tHead.rows[0].cells).map(function (c) { return c.textContent; }),
    row: Array.from(row.cells).map(function (c) { return c.textContent; }),
    width: document.documentElement.scrollWidth, view: [innerWidth, innerHeight]}));
});</script>"""


@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (.ci/run installs Debian's chromium)")
def test_first_screen_in_a_real_browser_shows_a_plot_then_tables_with_n_and_errors(results: Path, tmp_path: Path) -> None:
    build_leaderboard(results, tmp_path, reference_dir=None)
    page = tmp_path / "leaderboard.html"
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", LAYOUT + "</body>"))
    dom = browser(probe, "--dump-dom")
    layout = json.loads(html_unescape(re.search(r'data-layout="([^"]*)"', dom).group(1)))
    top, bottom, width = layout["img"]
    assert layout["view"][0] == 1366 and layout["view"][1] <= 768  # a laptop screen (less the browser's own bar)
    assert 0 < top < bottom < layout["table"] < layout["view"][1] - 60 and width > 200  # a plot, then a table
    assert "n" in layout["header"] and any("± SE" in h for h in layout["header"])
    assert any(re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d", c) for c in layout["row"])
    assert layout["width"] <= 1366  # nothing cut off at the right: wide tables scroll in their own box
    shot = screenshot(page, tmp_path / "first_screen.png")
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1366, 768)
        assert len(image.convert("RGB").getcolors(1 << 20) or []) > 50  # drawn, not a blank page


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


def test_sudoku_cell_accuracy_se_of_an_older_file_comes_from_its_samples(tmp_path: Path) -> None:
    cells = [{"doc_id": i, "resps": [["x"]], "acc": pair} for i, pair in enumerate([[8, 8], [0, 8], [1, 4]])]
    path = write_run(tmp_path, scores={"toy_sudoku": (0.45, "N/A"), "toy_countdown": (0.5, "N/A")}, n=3, trace=cells)
    data = json.loads(path.read_text())  # lm-eval writes the function's source for a custom aggregation
    data["configs"]["toy_sudoku"]["metric_list"][0]["aggregation"] = "def cell_accuracy(items):\n    ..."
    path.write_text(json.dumps(data))
    board, _ = board_of(tmp_path)
    se = board.scores.set_index("task")["stderr"]
    assert se["toy_sudoku"] == pytest.approx(35.1568, abs=1e-3)  # percent; by hand in tests/scoring/test_sudoku.py
    assert pd.isna(se["toy_countdown"])  # a mean's missing SE is not invented
