"""Results -> leaderboard: tables (Markdown, CSV, HTML) and plots from every lm-eval results file under a folder.

A row is one fully resolved setting: model, adapter, decoder preset with every field of its resolved spec
(the manifest's `decoder_spec`, read generically: new fields become new columns), steps, generation length,
seed, `--limit` and the number of samples. Results files of the same setting are merged (the newest value of
each score wins); different settings are never merged. Scores are in percent (lm-eval's value x 100) with
lm-eval's standard error and the sample count n; "best" is marked only among rows scored on the same items
(same task, same n). lm-eval group scores are listed apart, with what their group config averages.

Settings and cost come from the run's `manifest.json` (written by `mdlm-eval run`) where there is one, else from
the results file's `config` (`decoder_spec` or `model_args`; NFE then from the decoder's plan, empty where the
decoder has no fixed plan). Published numbers (`results/reference/*.csv`) are compared where the model,
adapter and protocol match.

Modules: `read` (a results file -> its setting, scores and groups), `tables` (rows and every table as cells),
`plots` (score against NFE, decoding order), `page` (Markdown, HTML, CSV, and the render in headless Chromium).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from mdlm_eval.leaderboard.page import (PLOTS_DIR, browser, chromium, csv_table, page_of, render_html, render_markdown,
                                        screenshot)
from mdlm_eval.leaderboard.plots import accuracy_nfe_plots, heatmaps, spread, trace_matrix
from mdlm_eval.leaderboard.read import Warn
from mdlm_eval.leaderboard.tables import (REFERENCE_COLUMNS, Leaderboard, build_tables, cache_table, checkpoint_table,
                                          family, load_reference)
from mdlm_eval.paths import REFERENCE_DIR
from mdlm_eval.store import write_atomic

__all__ = ["REFERENCE_COLUMNS", "REFERENCE_DIR", "Leaderboard", "browser", "build_leaderboard", "build_tables",
           "chromium", "family", "load_reference", "screenshot", "spread", "trace_matrix"]



def build_leaderboard(results_dir: str | Path, out_dir: str | Path, reference_dir: str | Path | None = REFERENCE_DIR,
                      warn: Warn = lambda message: None) -> list[Path]:
    """Read every results file under `results_dir`; write leaderboard.{md,csv,html}, leaderboard_versus.csv (when
    there are adapter or cache comparisons) and PNG plots to `out_dir`. Returns the paths written.

    Raises UsageError for a missing or empty folder.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    board = build_tables(results_dir, Path(reference_dir) if reference_dir else None, warn)
    plots, orders = accuracy_nfe_plots(board), heatmaps(board)
    plot_dir = out_dir / PLOTS_DIR
    plot_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in {**plots, **orders}.items():
        write_atomic(plot_dir / name, data)
        written.append(plot_dir / name)
    for stale in set(plot_dir.glob("*.png")) - set(written):
        stale.unlink()
    page = page_of(board, plots, orders)
    versus = [frame.assign(comparison=kind) for kind, (_, frame) in
              (("adapter vs base", checkpoint_table(board)), ("cache vs none", cache_table(board))) if not frame.empty]
    outputs = {
        "leaderboard.md": render_markdown(page),
        "leaderboard.csv": csv_table(board).to_csv(index=False),
        "leaderboard.html": render_html(page),
    }
    if versus:
        outputs["leaderboard_versus.csv"] = pd.concat(versus, ignore_index=True).to_csv(index=False)
    elif (out_dir / "leaderboard_versus.csv").exists():
        (out_dir / "leaderboard_versus.csv").unlink()
    for name, text in outputs.items():
        write_atomic(out_dir / name, text)
        written.append(out_dir / name)
    return written
