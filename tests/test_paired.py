"""Paired differences: the bootstrap interval and McNemar p against hand computations, `mdlm-eval compare`, and the
leaderboard's use of them (bold only beyond noise, intervals in the versus tables)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mdlm_eval.paired import compare_runs, mcnemar, paired_difference
from tests.cli_helpers import run_cli
from tests.test_leaderboard import table_rows, write_run

SHIPPED = Path(__file__).resolve().parents[1] / "results" / "toy"


def test_bootstrap_interval_matches_a_hand_computation() -> None:
    a = [1, 1, 1, 1, 1, 1, 0, 0, 1, 0]
    b = [0, 0, 0, 0, 0, 1, 0, 1, 1, 1]
    # by hand: 200 resamples of the 10 documents, the same indices for both runs, B - A in points
    draws = np.random.default_rng(3).integers(0, 10, size=(200, 10))
    diffs = [100 * (np.mean([b[i] for i in row]) - np.mean([a[i] for i in row])) for row in draws]
    low, high = np.percentile(diffs, [2.5, 97.5])
    got = paired_difference(a, b, resamples=200, seed=3)
    assert got.n == 10 and got.a == pytest.approx(70) and got.b == pytest.approx(40)
    assert got.diff == pytest.approx(-30)
    assert (got.low, got.high) == (pytest.approx(low), pytest.approx(high))
    # McNemar: 5 documents right only in A, 2 only in B: p = 2 (C(7,0) + C(7,1) + C(7,2)) / 2^7 = 58/128
    assert got.mcnemar_p == pytest.approx(58 / 128)
    assert got.excludes_zero == (high < 0)


def test_ratio_metric_resamples_numerators_and_denominators() -> None:
    a = [[3, 4], [4, 4], [0, 4], [2, 4]]
    b = [[4, 4], [4, 4], [1, 4], [4, 4]]
    draws = np.random.default_rng(0).integers(0, 4, size=(100, 4))
    ratio = lambda v, row: sum(v[i][0] for i in row) / sum(v[i][1] for i in row)  # noqa: E731
    diffs = [100 * (ratio(b, row) - ratio(a, row)) for row in draws]
    got = paired_difference(a, b, resamples=100, seed=0)
    assert got.diff == pytest.approx(100 * (13 - 9) / 16)
    assert (got.low, got.high) == (pytest.approx(np.percentile(diffs, 2.5)), pytest.approx(np.percentile(diffs, 97.5)))
    assert got.mcnemar_p is None  # not a 0/1 metric
    assert got.low > 0 and got.excludes_zero  # B never scores below A on a document


def test_mcnemar_without_discordant_pairs_and_exactly() -> None:
    assert mcnemar(np.array([1, 0]), np.array([1, 0])) == 1.0
    assert mcnemar(np.array([1] * 6), np.array([0] * 6)) == pytest.approx(2 / 64)


def test_compare_prints_the_paired_difference_and_says_when_documents_differ(tmp_path: Path, monkeypatch,
                                                                             capsys) -> None:
    a, b = SHIPPED / "semi_ar_steps-full_L32_bl8", SHIPPED / "full_diffusion_steps-full_L32"
    code, out, _ = run_cli(monkeypatch, capsys, "compare", str(a), str(b))
    assert code == 0
    countdown = next(line for line in out.splitlines() if line.startswith("mdlm_toy_countdown  acc "))
    expected = compare_runs(a, b)[0]
    assert expected.task == "mdlm_toy_countdown" and expected.paired.n == 256
    assert f"{expected.paired.diff:+.2f} [{expected.paired.low:+.2f}, {expected.paired.high:+.2f}]" in countdown
    assert "10,000 resamples" in out and "share" not in out
    # B with half of its documents: the shared ones are paired, and the command says so
    half = tmp_path / "half"
    shutil.copytree(b, half)
    samples = next(half.rglob("samples_mdlm_toy_countdown_*.jsonl"))
    samples.write_text("".join(samples.read_text().splitlines(keepends=True)[:100]))
    _, out, _ = run_cli(monkeypatch, capsys, "compare", str(a), str(half))
    assert "mdlm_toy_countdown/acc: the runs share 100 documents (A scored 256, B 100)" in out


def test_compare_runs_of_different_tasks_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    a = tmp_path / "a"
    b = tmp_path / "b"
    write_run(a, scores={"toy_sudoku": 0.5}, trace=[{"doc_id": 0, "doc_hash": "x", "metrics": ["acc"], "acc": 1}])
    write_run(b, scores={"toy_countdown": 0.5}, trace=[{"doc_id": 0, "doc_hash": "x", "metrics": ["acc"], "acc": 1}])
    code, _, err = run_cli(monkeypatch, capsys, "compare", str(a), str(b))
    assert code == 2 and err.strip().splitlines() == ["mdlm-eval: error: the runs share no task (toy_sudoku against toy_countdown): compare runs of the "
                   "same task"]


def docs(values: list[int]) -> list[dict]:
    return [{"doc_id": i, "doc_hash": f"d{i}", "metrics": ["acc"], "acc": v} for i, v in enumerate(values)]


def test_leaderboard_bolds_only_beyond_noise_and_shows_paired_intervals(tmp_path: Path) -> None:
    """Three decoders on the same 40 documents: A beats B on 12 documents and never loses (beyond noise); B and C
    differ on 2 (within noise). A 4-document table whose top two are 1.96 SE apart is bold on SEs alone."""
    from mdlm_eval.leaderboard import build_leaderboard

    root = tmp_path / "results"
    a, b, c = [1] * 30 + [0] * 10, [1] * 18 + [0] * 22, [1] * 16 + [0] * 24
    for name, values in (("ddd", a), ("bbb", b), ("ccc", c)):
        write_run(root, decoder=name, scores={"toy_countdown": (np.mean(values), 0.07)}, n=40, nfe=16,
                  trace=docs(values))
    build_leaderboard(root, tmp_path / "out", reference_dir=None)
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    header, rows = table_rows(md, "toy_countdown")
    by = {r[0]: r for r in rows}
    assert "acc vs top [95% CI]" in header
    col, acc = header.index("acc vs top [95% CI]"), header.index("acc ± SE")
    assert by["ddd"][acc] == "**75.00 ± 7.00**" and by["ddd"][col] == ""
    assert by["bbb"][col].startswith("-30.00 [") and by["bbb"][col].endswith("]*")
    assert by["ccc"][col].startswith("-35.00 [")
    best = pd.read_csv(tmp_path / "out" / "leaderboard.csv", keep_default_na=False).set_index("decoder")["best_in"]
    assert best.to_dict() == {"ddd": "toy_countdown/acc", "bbb": "", "ccc": ""}
    # the same runs without ddd: bbb's lead over ccc (2 documents) is within noise, so nothing is bold
    shutil.rmtree(next(p for p in root.iterdir() if p.name.startswith("ddd")))
    build_leaderboard(root, tmp_path / "out2", reference_dir=None)
    _, rows = table_rows((tmp_path / "out2" / "leaderboard.md").read_text(), "toy_countdown")
    assert not any("**" in cell for row in rows for cell in row)
    assert any(r[0] == "ccc" and r[col].startswith("-5.00 [") and not r[col].endswith("*") for r in rows)


def test_checkpoint_against_base_shows_the_paired_interval(tmp_path: Path) -> None:
    from mdlm_eval.leaderboard import build_leaderboard

    root = tmp_path / "results"
    base, tuned = [1] * 18 + [0] * 22, [1] * 30 + [0] * 10
    write_run(root, scores={"toy_countdown": (0.45, 0.08)}, n=40, nfe=16, trace=docs(base))
    write_run(root, peft="a1", scores={"toy_countdown": (0.75, 0.07)}, n=40, nfe=16, trace=docs(tuned), folder="a1")
    written = build_leaderboard(root, tmp_path / "out", reference_dir=None)
    _, rows = table_rows((tmp_path / "out" / "leaderboard.md").read_text(), "Checkpoints against their base model")
    expected = paired_difference(base, tuned)
    assert [r for r in rows if r[0] == "a1"][0][-1] == f"75.00 ({expected.text()})" and expected.text().endswith("*")
    versus = (tmp_path / "out" / "leaderboard_versus.csv").read_text()
    assert "vs base 95% low" in versus and "McNemar p" in versus and tmp_path / "out" / "leaderboard.md" in written


def test_plots_have_at_most_eight_series_faceted_with_paired_differences_and_a_selector(tmp_path: Path) -> None:
    """Ten fixed-step decoders, an adaptive one, two cached runs and an adapter: facets of at most eight series,
    comparisons with their paired-difference panel, the rest of a task metric's plots behind a selector."""
    from mdlm_eval.leaderboard import build_leaderboard, build_tables, family
    from mdlm_eval.leaderboard.plots import MAX_SERIES, facets

    root = tmp_path / "results"
    values = [1] * 20 + [0] * 20
    for k in range(10):
        write_run(root, decoder=f"d{k:02d}", scores={"toy_countdown": (0.5, 0.08)}, n=40, nfe=16, trace=docs(values))
    write_run(root, decoder="thr", scores={"toy_countdown": (0.5, 0.08)}, n=40, nfe=7,
              spec={"commit": "threshold", "threshold": 0.9}, trace=docs(values))
    for cache in ("none", "prefix"):
        write_run(root, decoder="d00", scores={"toy_countdown": (0.5, 0.08)}, n=40, nfe=16, spec={"cache": cache},
                  folder=f"d00_{cache}", trace=docs(values[::-1] if cache == "prefix" else values))
    write_run(root, decoder="d01", peft="a1", scores={"toy_countdown": (0.5, 0.08)}, n=40, nfe=16, folder="a1",
              trace=docs(values))
    board = build_tables(root, None, lambda message: None)
    runs = board.runs
    found = facets(board, runs)
    titles = [f.title for f in found]
    assert titles == ["fixed-step decoders (1/2)", "fixed-step decoders (2/2)", "adaptive decoders",
                      "cached against uncached", "checkpoints against the base model"]
    for facet in found:
        members = runs.loc[facet.runs]
        assert 1 <= len({family(board, members, i) for i in members.index}) <= MAX_SERIES
    build_leaderboard(root, tmp_path / "out", reference_dir=None)
    plots = sorted(p.name for p in (tmp_path / "out" / "leaderboard_plots").glob("nfe_*.png"))
    assert len(plots) == 5 and plots[3] == "nfe_toy_countdown_acc__3_cached_against_uncached.png"
    page = (tmp_path / "out" / "leaderboard.html").read_text()
    assert page.count("<select class='facet'") == 1 and page.count("<option ") == 5
    assert "checkpoints against the base model</option>" in page and "paired bootstrap interval" in page
