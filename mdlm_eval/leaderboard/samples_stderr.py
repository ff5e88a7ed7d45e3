"""Standard errors that an older results file lacks ("N/A"), computed from the samples file beside it.

Results written before lm-eval reported Sudoku's clustered cell-accuracy SE say "N/A" for it; the per-puzzle
(correct, empty) cell pairs are in lm-eval's `samples_<task>_<date>.jsonl`, so the SE is the same estimator
(`mdlm_eval.scoring.sudoku.cell_accuracy_stderr`) applied to them.
"""
from __future__ import annotations

import json
from pathlib import Path

from mdlm_eval.scoring.sudoku import cell_accuracy_stderr

ESTIMATORS = {"cell_accuracy": cell_accuracy_stderr}  # a task config's aggregation name -> its SE estimator


def fill_missing_stderr(data: dict, results_path: Path, aggregation_of) -> None:
    """Set `<metric>_stderr,none` in `data["results"]` (in place) where it is not a number and the metric's
    aggregation has an estimator here and a samples file beside `results_path` holds its per-sample values."""
    date = results_path.stem.removeprefix("results_")
    for task, metrics in data["results"].items():
        if not isinstance(metrics, dict):
            continue
        for key in list(metrics):
            metric, _, filt = key.partition(",")
            estimator = ESTIMATORS.get(aggregation_of(data.get("configs", {}).get(task, {}), metric) or "")
            stderr_key = f"{metric}_stderr,{filt}"
            if estimator is None or filt != "none" or isinstance(metrics.get(stderr_key), (int, float)):
                continue
            items = sample_values(results_path.parent / f"samples_{task}_{date}.jsonl", metric)
            if items and len(items) > 1:
                metrics[stderr_key] = estimator(items)


def sample_values(path: Path, metric: str) -> list | None:
    """Each sample's value of `metric` in an lm-eval samples file; None if the file or a value is missing."""
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError):
        return None
    values = [row.get(metric) for row in rows if isinstance(row, dict)]
    return values if values and all(v is not None for v in values) else None
