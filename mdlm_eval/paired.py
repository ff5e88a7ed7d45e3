"""Paired differences between two runs scored on the same documents.

Two runs of one task on the same documents are paired data: the per-document difference removes the spread of
document difficulty that two separate standard errors both carry. For each metric:

- the difference B - A of the task's aggregate (a mean of per-document values; Sudoku cell accuracy: a ratio of
  summed correct cells to summed cells), in points;
- a 95% paired bootstrap interval: R = 10,000 resamples of the shared documents with replacement, drawn by
  `numpy.random.default_rng(0).integers(0, n, size=(R, n))`, the same documents for both runs in each resample;
  the interval is the 2.5th and 97.5th percentiles of the resampled differences (numpy's linear interpolation);
- for a 0/1 metric, the exact McNemar p-value: with b documents right only in A and c right only in B,
  p = min(1, 2 P(X <= min(b, c))), X ~ Binomial(b + c, 1/2) (scipy's binomtest when installed, else the sum).

Per-document values come from lm-eval's `samples_<task>_<date>.jsonl` beside each results file, matched by
lm-eval's `doc_hash` (a hash of the document, not of the prompt, so runs under different prompt templates pair).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from mdlm_eval.errors import UsageError

RESAMPLES = 10_000
SEED = 0
METHOD = (f"paired bootstrap over documents, {RESAMPLES:,} resamples, numpy default_rng({SEED}), 2.5/97.5 "
          f"percentiles; exact McNemar p for 0/1 metrics")

DocScores = dict[str, dict[str, Any]]  # metric -> {doc_hash: value (a number, or [numerator, denominator])}


@dataclass(frozen=True)
class Paired:
    """B - A on the shared documents, in points (percent)."""

    n: int  # shared documents
    a: float  # A's aggregate on the shared documents
    b: float
    diff: float
    low: float
    high: float
    mcnemar_p: float | None  # 0/1 metrics only

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def text(self) -> str:
        """`+3.12 [+0.50, +5.80]*` (* = the interval excludes zero)."""
        return f"{self.diff:+.2f} [{self.low:+.2f}, {self.high:+.2f}]" + ("*" if self.excludes_zero else "")


def read_doc_scores(samples_file: str | Path) -> DocScores:
    """Per-document values of every metric in an lm-eval samples file (the first filter of each document)."""
    scores: DocScores = {}
    with open(samples_file, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            sample = json.loads(line)
            key = str(sample.get("doc_hash") or sample.get("doc_id"))
            filt = sample.get("filter", "none")
            for metric in sample.get("metrics") or []:
                name = metric + ("" if filt in ("none", None) else f" ({filt})")
                value = sample.get(metric)
                if is_value(value):
                    scores.setdefault(name, {}).setdefault(key, value)
    return scores


@lru_cache(maxsize=512)
def cached_doc_scores(samples_file: str) -> DocScores:
    return read_doc_scores(samples_file)


def is_value(value: Any) -> bool:
    number = (int, float)
    return (isinstance(value, number) and not isinstance(value, bool)) or isinstance(value, bool) or (
        isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, number) for v in value))


def as_ratio(values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Numerators and denominators: a plain value v is v / 1 (the aggregate is then the mean)."""
    num = np.array([float(v[0]) if isinstance(v, (list, tuple)) else float(v) for v in values])
    den = np.array([float(v[1]) if isinstance(v, (list, tuple)) else 1.0 for v in values])
    return num, den


@lru_cache(maxsize=4)
def resample_counts(n: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """How often each document is drawn in each resample (R x n), from default_rng(seed).integers(0, n, (R, n))."""
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    flat = (draws + n * np.arange(resamples)[:, None]).ravel()
    return np.bincount(flat, minlength=resamples * n).reshape(resamples, n).astype(np.float64)


def paired_difference(a: list[Any], b: list[Any], resamples: int = RESAMPLES, seed: int = SEED) -> Paired:
    """B - A (points) with its 95% paired bootstrap interval; a[i] and b[i] are the same document's values."""
    if len(a) != len(b) or not a:
        raise ValueError("paired values need the same, non-zero number of documents")
    num_a, den_a = as_ratio(a)
    num_b, den_b = as_ratio(b)
    counts = resample_counts(len(a), resamples, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = counts @ num_b / (counts @ den_b) - counts @ num_a / (counts @ den_a)
    low, high = np.nanpercentile(boot, [2.5, 97.5])
    score_a, score_b = num_a.sum() / den_a.sum(), num_b.sum() / den_b.sum()
    binary = all(set(np.unique(x)) <= {0.0, 1.0} for x in (num_a, num_b)) and (den_a == 1).all() and (den_b == 1).all()
    return Paired(len(a), float(100 * score_a), float(100 * score_b), float(100 * (score_b - score_a)),
                  float(100 * low), float(100 * high),
                  mcnemar(num_a, num_b) if binary else None)


def mcnemar(a: np.ndarray, b: np.ndarray) -> float:
    """Exact two-sided McNemar p-value of paired 0/1 outcomes."""
    only_a, only_b = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
    trials, low = only_a + only_b, min(only_a, only_b)
    if trials == 0:
        return 1.0
    try:
        from scipy.stats import binomtest
    except ImportError:
        return min(1.0, 2 * sum(math.comb(trials, k) for k in range(low + 1)) / 2 ** trials)
    return float(binomtest(low, trials, 0.5).pvalue)


def pair_scores(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[str], list[Any], list[Any]]:
    """The shared documents (in A's order) and both runs' values on them."""
    shared = [k for k in a if k in b]
    return shared, [a[k] for k in shared], [b[k] for k in shared]


def compare_metric(a: dict[str, Any], b: dict[str, Any]) -> Paired | None:
    """B - A on the documents both runs scored; None when they share none."""
    shared, va, vb = pair_scores(a, b)
    return paired_difference(va, vb) if shared else None


# ---- two run folders (`mdlm-eval compare`) ----


def run_samples(folder: str | Path) -> dict[str, Path]:
    """{task: samples file} of a run folder: the newest results file's samples (a results file alone also works)."""
    folder = Path(folder)
    if not folder.exists():
        raise UsageError(f"{folder}: no such run folder")
    results = sorted(folder.rglob("results_*.json")) if folder.is_dir() else [folder]
    if not results or not results[-1].name.startswith("results_"):
        raise UsageError(f"{folder}: no lm-eval results file (results_*.json) in it")
    latest = results[-1]
    date = latest.stem.removeprefix("results_")
    found = {}
    for path in sorted(latest.parent.glob(f"samples_*_{date}.jsonl")):
        found[path.name.removeprefix("samples_").removesuffix(f"_{date}.jsonl")] = path
    if not found:
        raise UsageError(f"{latest}: no samples_*.jsonl beside it (run with log_samples; `mdlm-eval run` does)")
    return found


@dataclass(frozen=True)
class Comparison:
    task: str
    metric: str
    paired: Paired
    docs_a: int
    docs_b: int


def compare_runs(run_a: str | Path, run_b: str | Path) -> list[Comparison]:
    """Every task and metric both runs scored, paired on their shared documents. UsageError when the runs share no
    task or no document."""
    samples_a, samples_b = run_samples(run_a), run_samples(run_b)
    tasks = [t for t in samples_a if t in samples_b]
    if not tasks:
        raise UsageError(f"the runs share no task ({', '.join(samples_a)} against {', '.join(samples_b)}): "
                         f"compare runs of the same task")
    found = []
    for task in tasks:
        docs_a, docs_b = read_doc_scores(samples_a[task]), read_doc_scores(samples_b[task])
        for metric in (m for m in docs_a if m in docs_b):
            paired = compare_metric(docs_a[metric], docs_b[metric])
            if paired is not None:
                found.append(Comparison(task, metric, paired, len(docs_a[metric]), len(docs_b[metric])))
    if not found:
        raise UsageError(f"{run_a} and {run_b} share no scored document of {', '.join(tasks)}")
    return found


def report(comparisons: list[Comparison], name_a: str, name_b: str) -> list[str]:
    """Lines for the terminal: a table, then what the interval is and which documents were paired."""
    lines = [f"A = {name_a}", f"B = {name_b}", ""]
    rows = [("task", "metric", "n", "A", "B", "B - A [95% CI]", "McNemar p")]
    for c in comparisons:
        p = c.paired
        rows.append((c.task, c.metric, str(p.n), f"{p.a:.2f}", f"{p.b:.2f}", p.text(),
                     "" if p.mcnemar_p is None else f"{p.mcnemar_p:.3g}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines += ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
              for row in rows]
    lines += ["", f"points (percent); * = the interval excludes zero; {METHOD}"]
    for c in comparisons:
        if c.paired.n < max(c.docs_a, c.docs_b):
            lines.append(f"note: {c.task}/{c.metric}: the runs share {c.paired.n} documents (A scored {c.docs_a}, "
                         f"B {c.docs_b}); the difference is over the shared ones only")
    return lines
