"""The leaderboard's tables: settings merged into rows, published numbers joined, and each table of the page as
cells (task tables, checkpoint against base, cached against uncached, groups, published)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from mdlm_eval.leaderboard.read import (ARCHITECTURE, COST, ENV, EXTRAS, HEAD, HOST, SPEC_SKIP, TAIL, GroupInfo, Warn, as_int, block_of,
                                        read_results, short_name)
from mdlm_eval.leaderboard.sampled import Sampled, sampled_scores
from mdlm_eval.paired import METHOD, Paired, cached_doc_scores, compare_metric

HEADERS = {"gen_length": "L", "block_length": "block", "nfe_per_sample": "NFE/sample",
           "tokens_per_forward": "tokens/forward", "seconds_per_sample": "s/sample", "early_eos_share": "early EOS %",
           "samples": "samples"}
REFERENCE_COLUMNS = ["model", "adapter", "decoder", "steps", "gen_length", "block_length", "task", "metric",
                     "value", "source", "note", "hardware"]
OPTIONAL_REFERENCE = {"hardware": ""}  # where the source states it (else empty)
BUDGET_FIELDS = ("threshold", "factor", "gamma")  # adaptive decoders' knobs: their points join one plot series
Z95 = 1.959964  # two-sided 95% normal quantile: interval = value +/- Z95 x SE

DEFINITIONS = {
    "n": "samples scored for this task (lm-eval's effective count; a `--limit` run is its own row with its own n)",
    "score ± SE": "lm-eval's value x 100 (percent) ± lm-eval's standard error (`<metric>_stderr`), also in percent; "
                  "a 95% interval is value ± 1.96 SE. Sudoku cell accuracy's SE is clustered by puzzle (ratio "
                  "estimator; from the samples file for results written without it). † = no SE reported. "
                  "Bold = best among rows with the same task and n, and only when its "
                  "difference from the runner-up is beyond noise: the paired 95% interval excludes zero where the two "
                  "runs scored the same documents, else the difference exceeds 1.96 x the combined SE "
                  "(sqrt(SE1² + SE2²)); no bold when the top two are within noise",
    "vs top [95% CI]": "the row's score minus the top row's (same task and n) in points, paired on the documents "
                       f"both scored, with its 95% interval ({METHOD}); * = the interval excludes zero",
    "steps": "the decoder's step budget resolved for this L (forward passes of a fixed-plan decoder; a cap for "
             "adaptive decoders)",
    "L": "generation length (tokens in the canvas)",
    "NFE/sample": "forward passes of the model per sample, measured (`manifest.json`; may be fractional for "
                  "adaptive decoders) or, without a manifest, from the decoder's plan; empty when neither is known",
    "tokens/forward": "L x samples / forward passes: tokens committed per forward pass",
    "s/sample": "wall seconds per sample of the run: it depends on the machine and on what else it ran, so compare "
                "it only between rows run on the same host at a similar load; the comparable cost columns are "
                "NFE/sample and tokens/forward",
    "s/sample ran on (load)": "the host the wall time was measured on and its 1-minute load average when the run "
                              "started (manifest `environment`)",
    "environment columns": "device_name, driver, cuda, torch, transformers, lm_eval, peft, mdlm-eval, dtype, "
                           "attention, deterministic: shown only where rows of a table that record them differ (manifest "
                           "`environment`); such rows' scores may differ by the environment, not the setting",
    "early EOS %": "share of EOS among the tokens unmasked in the first quarter of the steps, in percent: the "
                   "'EOS trap' statistic of arXiv 2509.23924 (EOSER+ASS); recorded only by runs with `--trace` "
                   "(empty otherwise)",
    "AUP": "accuracy under parallelism (d3LLM: arXiv 2601.07568; as hao-ai-lab/d3LLM "
           "`AUP_leaderboard/aup_utils.py` computes it) of a decoder swept over one knob (steps, threshold, factor or "
           "gamma), over its (TPF, score) points in TPF order: rho_1 y_1 + sum_i (rho_i - rho_(i-1)) (y_i W(y_i) + "
           "y_(i-1) W(y_(i-1))) / 2 with W(y) = min(exp(-3 (1 - y / y_max)), 1) and y_max the best score among the "
           "task metric's sweeps; points more than 5 below the lowest-TPF point's score are dropped. TPF = tokens "
           "up to and including the first EOS / forward passes (manifest `tpf`)",
    "architecture": "the model family in words, from the run's results file: the native name of its model_type (LLaDA, "
                    "Dream, LLaDA2, SDAR, Fast-dLLM v2) or the model_type, with the block size of a block-causal model "
                    "and `token editing` for a model that re-writes committed tokens; empty for results written "
                    "before it was recorded",
    "seed": "the run's seed (`--seed`)",
    "limit": "lm-eval's `--limit` (samples per task), empty for the full task",
    "block": "decoder spec `block_length`: tokens per semi-autoregressive block (empty: one block, or ascending "
             "step sizes)",
}
SPEC_DEFINITIONS = {
    "schedule": "uniform (equal counts per step, LLaDA blocks) or ascending (ASS: 1, 2, 4, ... tokens)",
    "block_num": "ascending: number of right-anchored blocks",
    "remasking": "ranking of masked positions: low_confidence, random, margin, entropy",
    "eos_policy": "EOS handling: none, logits_eos_inf, confidence_eos_eot_inf, eoser (EOS early rejection)",
    "gamma_schedule": "EOSER's EOS-scaling schedule (linear or power)",
    "eos_min_gamma": "EOSER's smallest EOS scale", "eos_max_gamma": "EOSER's largest EOS scale",
    "temperature": "sampling temperature (0 = greedy)", "cfg_scale": "classifier-free guidance scale (0 = off)",
    "cache": "KV cache: none, prefix or dual (Fast-dLLM)",
    "commit": "commit rule: how many masked positions a step commits (count: by the schedule; threshold, factor, "
              "eb, dream, dream_origin, wino: adaptively)",
    "threshold": "adaptive: commit every position whose confidence is at least this (Fast-dLLM)",
    "threshold_back": "WINO: re-mask a committed token whose confidence falls below this",
    "factor": "adaptive: Fast-dLLM's factor rule, the n-th most confident is committed while c_n >= 1 - f/(n+1)",
    "gamma": "adaptive: EB-sampler's entropy budget per step",
    "eps": "Dream's time-grid floor", "alg": "Dream's ranking of masked positions",
    "alg_temp": "Dream's ranking temperature",
}


@dataclass
class Leaderboard:
    """The tables of a leaderboard, before rendering."""

    runs: pd.DataFrame  # one row per setting: HEAD + spec fields + TAIL + COST + EXTRAS + bookkeeping
    spec_fields: list[str]  # the decoder spec columns of `runs`
    scores: pd.DataFrame  # long: run, task, metric, value, stderr, n, higher, group
    groups: dict[str, GroupInfo]
    reference: pd.DataFrame  # REFERENCE_COLUMNS
    comparison: pd.DataFrame  # run, task, metric, ours, published, diff, source
    files: int  # results files read

    @property
    def tasks(self) -> list[str]:
        """Tasks (not groups) with scores, sorted."""
        return sorted(set(self.scores.loc[~self.scores["group"], "task"]))

    @property
    def identity(self) -> list[str]:
        return HEAD + self.spec_fields + TAIL


# ---- tables ----


def spec_column(key: str) -> str:
    """The runs column of a spec field (prefixed where it would shadow a column of its own)."""
    return f"spec_{key}" if key in HEAD + TAIL + COST + EXTRAS + ["run"] else key


def merge_settings(records: list[tuple[dict, list[dict], dict]], warn: Warn = lambda _: None
                   ) -> tuple[pd.DataFrame, list[str], pd.DataFrame]:
    """One row per distinct setting (oldest to newest: a newer file's scores replace the older ones). Files of
    different run folders that claim the same row are named through `warn` (a rerun in one folder is not)."""
    merged: dict[tuple, tuple[dict, dict]] = {}
    claims: dict[tuple, list[str]] = {}
    for row, scores, _ in sorted(records, key=lambda r: r[0]["date"]):
        for col in TAIL:
            row[col] = as_int(row.get(col))
        spec = sorted((k, v) for k, v in row["spec"].items() if k not in SPEC_SKIP)  # a description is no setting
        key = (row["model"], row["adapter"], row["decoder"], tuple(spec), *(row[c] for c in TAIL))
        claims.setdefault(key, []).append(row.get("results_file", ""))
        old_row, old_scores = merged.get(key, ({}, {}))
        row["trace_files"] = row["trace_files"] or old_row.get("trace_files", ())
        row["samples_files"] = {**old_row.get("samples_files", {}), **row.get("samples_files", {})}
        merged[key] = (row, {**old_scores, **{(s["task"], s["metric"]): s for s in scores}})
    for (model, adapter, decoder, *_), files in claims.items():
        if len({str(Path(f).parent) for f in files}) > 1:
            row = " + ".join(p for p in (model, adapter) if p) + f" | {decoder}"
            warn(f"{len(files)} results files claim the same row ({row}): {', '.join(files)}; "
                 f"the newest one's scores are shown")
    entries = list(merged.values())
    spec_keys = sorted({k for row, _ in entries for k in row["spec"]} - SPEC_SKIP)
    spec_fields = [spec_column(k) for k in spec_keys]
    entries.sort(key=lambda e: tuple(sort_key(e[0].get(c)) for c in (
        "model", "adapter", "decoder", "gen_length", "nfe_per_sample", "steps", "samples", "seed")))
    rows, long = [], []
    for run, (row, scores) in enumerate(entries):
        flat = {"run": run, **{k: v for k, v in row.items() if k != "spec"}}
        flat.update({spec_column(k): row["spec"].get(k) for k in spec_keys})
        rows.append(flat)
        long += [{"run": run, **s} for s in scores.values()]
    runs = pd.DataFrame(rows)
    for col in HEAD + [ARCHITECTURE] + TAIL + EXTRAS + ENV + HOST + spec_fields:
        if col not in runs:
            runs[col] = None
        runs[col] = pd.Series([None if (v := r.get(col)) is None or v != v else v for r in rows], dtype=object)
    columns = ["run", "task", "metric", "value", "stderr", "n", "higher", "group"]
    return runs, spec_fields, pd.DataFrame(long, columns=columns)


def sort_key(value: Any) -> tuple:
    missing = value is None or (isinstance(value, float) and np.isnan(value))
    return (2, 0, "") if missing else (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


def load_reference(reference_dir: Path | None, warn: Warn) -> pd.DataFrame:
    """All `*.csv` files of the reference folder, stacked (a file without the columns is named and skipped)."""
    if reference_dir is not None and not reference_dir.is_dir():
        warn(f"reference folder {reference_dir} does not exist; no published numbers shown")
    frames = []
    for path in sorted(reference_dir.glob("*.csv")) if reference_dir and reference_dir.is_dir() else []:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame = frame.assign(**{c: v for c, v in OPTIONAL_REFERENCE.items() if c not in frame.columns})
        missing = [c for c in REFERENCE_COLUMNS if c not in frame.columns]
        if missing:
            warn(f"skipped reference file {path}: missing column {', '.join(missing)}")
            continue
        frames.append(frame[REFERENCE_COLUMNS])
    if not frames:
        return pd.DataFrame(columns=REFERENCE_COLUMNS)
    reference = pd.concat(frames, ignore_index=True)
    reference["value"] = pd.to_numeric(reference["value"], errors="coerce")
    return reference


def join_key(model: Any, adapter: Any, decoder: Any, steps: Any, length: Any, block: Any, task: str, metric: str) -> tuple:
    """How a run and a published row are compared: names case-blind, numbers as integers, missing as ""."""

    def num(v: Any) -> str:
        v = as_int(v)
        return "" if v is None else str(v).strip()

    return (short_name(model).lower(), short_name(adapter).lower(), str(decoder).strip(), num(steps), num(length),
            num(block), task, metric)


def compare(runs: pd.DataFrame, scores: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Each run's score beside every published row of the same protocol (rows that state steps and L)."""
    published: dict[tuple, list[pd.Series]] = {}
    for _, ref in reference.iterrows():
        if ref["steps"].strip() and ref["gen_length"].strip():
            key = join_key(ref["model"], ref["adapter"], ref["decoder"], ref["steps"], ref["gen_length"],
                           ref["block_length"], ref["task"], ref["metric"])
            published.setdefault(key, []).append(ref)
    rows = []
    for _, s in scores.iterrows():
        run = runs.loc[s["run"]]
        spec = {k: run.get(k) for k in ("schedule", "block_length")}
        key = join_key(run["model"], run["adapter"], run["decoder"], run["steps"], run["gen_length"],
                       block_of(spec, run["gen_length"]), s["task"], s["metric"])
        for ref in published.get(key, []):
            rows.append({"run": s["run"], "task": s["task"], "metric": s["metric"], "ours": s["value"],
                         "stderr": s["stderr"], "n": s["n"], "published": ref["value"],
                         "diff": s["value"] - ref["value"], "source": ref["source"], "hardware": ref["hardware"],
                         "other_hardware": other_hardware(ref["hardware"], run.get("device_name"))})
    return pd.DataFrame(rows, columns=["run", "task", "metric", "ours", "stderr", "n", "published", "diff", "source",
                                       "hardware", "other_hardware"])


def other_hardware(published: str, ours: Any) -> bool:
    """Whether a published number states hardware other than the run's device (`A100` vs `NVIDIA H200`)."""
    published = str(published or "").strip().lower()
    return bool(published) and published not in str(ours or "").lower()


def build_tables(results_dir: Path, reference_dir: Path | None, warn: Warn) -> Leaderboard:
    records, files = read_results(results_dir, warn)
    runs, spec_fields, scores = merge_settings(records, warn)
    groups: dict[str, GroupInfo] = {}
    for _, _, g in records:
        groups.update(g)
    reference = load_reference(reference_dir, warn)
    return Leaderboard(runs, spec_fields, scores, groups, reference, compare(runs, scores, reference), files)


def varies(values: pd.Series) -> bool:
    return len({repr(v) for v in values}) > 1


def shown_columns(board: Leaderboard, runs: pd.DataFrame) -> list[str]:
    """Setting columns that distinguish these rows: model, its architecture and adapter if they vary, the decoder,
    each spec field that varies among rows of one decoder preset (a field fixed by the preset is told by its name),
    steps, and L, seed and limit if they vary."""
    cols = [c for c in ("model", ARCHITECTURE, "adapter") if varies(runs[c])] + ["decoder"]
    cols += [f for f in board.spec_fields if any(varies(g[f]) for _, g in runs.groupby("decoder", sort=False))]
    return cols + ["steps"] + [c for c in ("template", "gen_length", "seed", "limit") if varies(runs[c])]


def constants(runs: pd.DataFrame) -> str:
    """The setting shared by all these rows, e.g. "model toy, L 32, seed 0"."""
    parts = []
    for col in ("model", ARCHITECTURE, "adapter", "template", "gen_length", "seed", "limit"):
        values = {repr(v) for v in runs[col]}
        if len(values) == 1 and runs[col].iloc[0] not in (None, ""):
            parts.append(f"{HEADERS.get(col, col)} {runs[col].iloc[0]}")
    return ", ".join(parts)


def family(board: Leaderboard, runs: pd.DataFrame, i: int) -> tuple[str, Any]:
    """A plot series: what tells the row apart from the others (model, adapter, decoder, spec fields, L, seed) less
    its budget (steps and BUDGET_FIELDS), and its n."""
    run = runs.loc[i]
    parts = [run["model"] if varies(runs["model"]) else "", (run["adapter"] or "base") if varies(runs["adapter"]) else "",
             str(run["decoder"])]
    for col in shown_columns(board, runs):
        if col not in ("model", "adapter", "decoder", "steps", "limit", *BUDGET_FIELDS) and run[col] not in (None, ""):
            parts.append(f"{HEADERS.get(col, col)}={fmt_value(run[col])}")
    n = board.scores.loc[board.scores["run"] == i, "n"]
    return " ".join(p for p in parts if p), (n.iloc[0] if len(n) else None)


# ---- cells ----


@dataclass
class Cell:
    text: str
    sort: Any = None  # the value sorted on (numbers), else the text
    bold: bool = False


@dataclass
class Table:
    title: str
    caption: str
    header: list[str]
    rows: list[list[Cell]]
    anchor: str = ""


def fmt_value(value: Any, col: str = "") -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        if col == "seconds_per_sample":
            return f"{value:.3g}"
        if col == "early_eos_share":
            return f"{100 * value:.1f}"
        if float(value).is_integer() and col in ("nfe_per_sample", ""):
            return str(int(value))
        return f"{value:.2f}" if col else f"{value:g}"
    return str(value)


def setting_cell(run: pd.Series, col: str) -> Cell:
    value = run["steps_arg"] if col == "steps" and run["steps"] is None else run[col]
    sort = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if col == "early_eos_share" and sort is not None:
        sort = 100 * sort
    return Cell(fmt_value(value, col if col in COST else ""), sort)


def host_text(run: pd.Series) -> str:
    """`host (1.52)`: the host a run's wall time was measured on and its 1-minute load average at the start."""
    if not run["host"]:
        return ""
    return run["host"] + ("" if run["load"] is None or pd.isna(run["load"]) else f" ({run['load']:.2f})")


def score_cell(s: pd.Series | None) -> Cell:
    if s is None:
        return Cell("")
    se = "" if s["stderr"] is None or pd.isna(s["stderr"]) else f" ± {s['stderr']:.2f}"
    return Cell(f"{s['value']:.2f}" + (se or " †"), s["value"])


def doc_scores(board: Leaderboard, run: int, task: str, metric: str) -> dict[str, Any] | None:
    """A run's per-document values of a task metric (from its samples file), or None."""
    path = (board.runs.at[run, "samples_files"] or {}).get(task) if "samples_files" in board.runs else None
    if not path or not Path(path).is_file():
        return None
    return cached_doc_scores(path).get(metric)


def paired(board: Leaderboard, run: int, base: int, task: str, metric: str) -> Paired | None:
    """`run` - `base` on the documents both scored (the paired bootstrap of mdlm_eval.paired), or None."""
    a, b = doc_scores(board, base, task, metric), doc_scores(board, run, task, metric)
    return compare_metric(a, b) if a and b else None


def beyond_noise(board: Leaderboard, best: pd.Series, other: pd.Series) -> bool:
    """Whether `best` differs from `other` beyond noise: the paired 95% interval excludes zero where both runs have
    per-document scores of shared documents, else |difference| > 1.96 x the combined SE (never without SEs)."""
    pair = paired(board, best["run"], other["run"], best["task"], best["metric"])
    if pair is not None:
        return pair.excludes_zero
    if any(s is None or pd.isna(s) for s in (best["stderr"], other["stderr"])):
        return False
    return abs(best["value"] - other["value"]) > Z95 * float(np.hypot(best["stderr"], other["stderr"]))


def top_runs(frame: pd.DataFrame) -> dict[int, pd.Series]:
    """Per group of rows with the same n: the top score (ties: the first), by run."""
    tops = {}
    for _, same in frame.groupby(frame["n"].fillna(-1)):
        ordered = same.sort_values("value", ascending=not same["higher"].iloc[0], kind="stable")
        tops.update({r: ordered.iloc[0] for r in same["run"]})
    return tops


def best_runs(board: Leaderboard, frame: pd.DataFrame) -> set[int]:
    """The run holding the best value of one task metric among rows with the same n, when its difference from the
    runner-up is beyond noise (`beyond_noise`); none on a tie or within noise."""
    best = set()
    for _, same in frame.groupby(frame["n"].fillna(-1)):
        if len(same) < 2:
            continue
        ordered = same.sort_values("value", ascending=not same["higher"].iloc[0], kind="stable")
        first, second = ordered.iloc[0], ordered.iloc[1]
        if not np.isclose(first["value"], second["value"]) and beyond_noise(board, first, second):
            best.add(first["run"])
    return best


def task_table(board: Leaderboard, task: str) -> Table:
    """One task: a row per setting with its n, each metric ± SE, and the decoding cost."""
    scores = board.scores[board.scores["task"] == task]
    metrics = list(dict.fromkeys(scores["metric"]))
    runs = board.runs.loc[sorted(set(scores["run"]))]
    runs = runs.assign(_n=[scores.loc[scores["run"] == r, "n"].max() for r in runs.index])
    runs = runs.sort_values("_n", ascending=False, kind="stable", key=lambda c: c.fillna(-1))
    cols = shown_columns(board, runs)
    best = {m: best_runs(board, scores[scores["metric"] == m]) for m in metrics}
    by = {(r, m): s for _, s in scores.iterrows() for r, m in [(s["run"], s["metric"])]}
    tops = top_runs(scores[scores["metric"] == metrics[0]]) if metrics else {}
    hosts = runs["host"].notna().any()
    env_cols = [c for c in ENV if varies(runs[c].dropna())]  # among the rows that record the field
    rows = []
    for i, run in runs.iterrows():
        cells = [setting_cell(run, c) for c in cols]
        cells.append(Cell(fmt_value(run["_n"]), run["_n"]))
        for m in metrics:
            cell = score_cell(by.get((i, m)))
            cell.bold = i in best[m]
            cells.append(cell)
        top = tops.get(i)
        pair = paired(board, i, top["run"], task, metrics[0]) if top is not None and top["run"] != i else None
        cells.append(Cell(pair.text() if pair else "", pair.diff if pair else None))
        cells += [setting_cell(run, c) for c in COST]
        if hosts:
            cells.append(Cell(host_text(run)))
        cells += [Cell(fmt_value(run[c])) for c in env_cols]
        rows.append(cells)
    header = ([HEADERS.get(c, c) for c in cols] + ["n"] + [f"{m} ± SE" for m in metrics]
              + [f"{metrics[0] if metrics else ''} vs top [95% CI]"] + [HEADERS[c] for c in COST]
              + (["s/sample ran on (load)"] if hosts else []) + env_cols)
    ns = sorted({int(v) for v in runs["_n"].dropna()}, reverse=True)
    caption = "; ".join(p for p in (constants(runs), "n " + ", ".join(map(str, ns)) if ns else "") if p)
    return Table(task, caption, header, rows, anchor=f"task-{slug(task)}")


def pairs(board: Leaderboard, col: str, base: Callable[[Any], bool]) -> list[tuple[int, int]]:
    """(run, base run) where the runs differ only in `col` and the base run's value satisfies `base`."""
    others = [c for c in board.identity if c != col]
    keyed: dict[str, int] = {}
    for i, run in board.runs.iterrows():
        if base(run[col]):
            keyed.setdefault(repr([run[c] for c in others]), i)
    return [(i, keyed[k]) for i, run in board.runs.iterrows() if not base(run[col])
            and (k := repr([run[c] for c in others])) in keyed]


def run_sampled(board: Leaderboard, run: int, task: str, k: int | None = None) -> dict[str, Sampled]:
    """A run's sampled mean and pass@k per metric of `task` (runs with several generations per prompt), or {}."""
    path = (board.runs.at[run, "samples_files"] or {}).get(task) if "samples_files" in board.runs else None
    return sampled_scores(path, task, k) if path and Path(path).is_file() else {}


def sampled_columns(board: Leaderboard, runs: pd.DataFrame, metrics: list, lengths: list) -> dict[tuple, int]:
    """(task, metric, L) -> k for the columns where some run has several generations per prompt: k is the
    fewest generations of any such run there, so every row's pass@k is the same k."""
    ks: dict[tuple, int] = {}
    for i, run in runs.iterrows():
        for task, metric in metrics:
            if (stats := run_sampled(board, i, task).get(metric)) is not None:
                key = (task, metric, run["gen_length"])
                ks[key] = min(ks.get(key, stats.generations), stats.generations)
    return {key: ks[key] for key in [(t, m, length) for t, m in metrics for length in lengths] if key in ks}


def versus_table(board: Leaderboard, col: str, base: Callable[[Any], bool], title: str, caption: str,
                 anchor: str, sampled: bool = False) -> tuple[Table | None, pd.DataFrame]:
    """Paper layout: a row per setting of `col` (e.g. adapter) x decoder x steps, a column per task metric at each L;
    each non-base cell with its difference (points) to the base setting that differs only in `col`. With
    `sampled`, a task metric some run sampled several times per prompt gains sampled-mean and pass@k columns."""
    matched = pairs(board, col, base)
    if not matched:
        return None, pd.DataFrame()
    involved = sorted({i for p in matched for i in p})
    runs = board.runs.loc[involved]
    scores = board.scores[board.scores["run"].isin(involved) & ~board.scores["group"]]
    base_of = dict(matched)
    lengths = sorted({v for v in runs["gen_length"] if v is not None}, key=sort_key)
    metrics = list(dict.fromkeys(zip(scores["task"], scores["metric"])))
    kin = board.runs[board.runs["decoder"].isin(set(runs["decoder"]))]  # a field that tells these decoders' runs apart
    row_cols = [col] + [c for c in shown_columns(board, kin) if c not in (col, "gen_length", "limit", "seed")]
    row_cols += [c for c in ("seed", "limit") if varies(runs[c])]
    extra = sampled_columns(board, runs, metrics, lengths) if sampled else {}
    grid: dict[str, dict] = {}
    for i, run in runs.iterrows():
        steps = run["steps_arg"] if run["steps_arg"] is not None else run["steps"]
        label = tuple((c, steps if c == "steps" else run[c]) for c in row_cols)
        entry = grid.setdefault(repr(label), {"label": label, "cells": {}})
        for _, s in scores[scores["run"] == i].iterrows():
            ref = board.scores[(board.scores["run"] == base_of.get(i, -1)) & (board.scores["task"] == s["task"])
                               & (board.scores["metric"] == s["metric"])]
            diff = s["value"] - ref["value"].iloc[0] if len(ref) else None
            pair = paired(board, i, base_of[i], s["task"], s["metric"]) if len(ref) else None
            entry["cells"][(s["task"], s["metric"], run["gen_length"])] = (s["value"], s["stderr"], diff, pair)
            if (k := extra.get((s["task"], s["metric"], run["gen_length"]))) is not None:
                entry["sampled"] = entry.get("sampled", {})
                entry["sampled"][(s["task"], s["metric"], run["gen_length"])] = run_sampled(
                    board, i, s["task"], k).get(s["metric"])
    records, rows = [], []
    for entry in sorted(grid.values(), key=lambda e: tuple(sort_key(v if c != col or not base(v) else "")
                                                               for c, v in e["label"] if c != col)
                        + (not base(dict(e["label"])[col]),)):
        record = {c: v for c, v in entry["label"]}
        cells = [Cell(fmt_value(v), v if isinstance(v, (int, float)) else None) for _, v in entry["label"]]
        for task, metric in metrics:
            for length in lengths:
                value = entry["cells"].get((task, metric, length))
                name = f"{task}/{metric} L{length}"
                record[name] = value[0] if value else None
                record[f"{name} vs base"] = value[2] if value else None
                pair = value[3] if value else None
                record[f"{name} vs base 95% low"] = pair.low if pair else None
                record[f"{name} vs base 95% high"] = pair.high if pair else None
                record[f"{name} vs base McNemar p"] = pair.mcnemar_p if pair else None
                text = "" if value is None else f"{value[0]:.2f}" + (
                    f" ({pair.text()})" if pair else f" ({value[2]:+.2f})" if value[2] is not None else "")
                cells.append(Cell(text, value[0] if value else None))
                if (k := extra.get((task, metric, length))) is not None:
                    stats = entry.get("sampled", {}).get((task, metric, length))
                    record[f"{name} sampled mean"] = stats.sampled_mean if stats else None
                    record[f"{name} pass@{k}"] = stats.pass_at_k if stats else None
                    cells += [Cell(f"{stats.sampled_mean:.2f}" if stats else "", stats.sampled_mean if stats else None),
                              Cell(f"{stats.pass_at_k:.2f}" if stats else "", stats.pass_at_k if stats else None)]
        records.append(record)
        rows.append(cells)
    header = [HEADERS.get(c, c) for c in row_cols]
    for t, m in metrics:
        for length in lengths:
            header.append(f"{t}/{m} L{length}")
            if (k := extra.get((t, m, length))) is not None:
                header += [f"{t}/{m} L{length} sampled mean", f"{t}/{m} L{length} pass@{k}"]
    return Table(title, caption, header, rows, anchor=anchor), pd.DataFrame(records)


def is_base_adapter(value: Any) -> bool:
    return value in (None, "")


def is_uncached(value: Any) -> bool:
    return value in (None, "", "none")


def checkpoint_table(board: Leaderboard) -> tuple[Table | None, pd.DataFrame]:
    return versus_table(
        board, "adapter", is_base_adapter, "Checkpoints against their base model",
        "Rows: model / adapter x decoder x steps; columns: task metric at each L (percent). Each adapter's cell "
        "shows (in parentheses) its difference in points to the base model (same model, no adapter) under the same "
        "decoder, budget, seed and n, paired on the shared documents with its 95% interval [low, high]; * = the "
        "interval excludes zero. Where a run drew several generations per prompt (lm-eval repeats), its sampled "
        "mean (the share of all generations that are correct) and pass@k (unbiased estimator, k = the fewest "
        "generations per prompt in the column) follow the metric.", "versus-base", sampled=True)


def cache_table(board: Leaderboard) -> tuple[Table | None, pd.DataFrame]:
    column = spec_column("cache")
    if column not in board.runs:
        return None, pd.DataFrame()
    return versus_table(
        board, column, is_uncached, "Cached against uncached decoding",
        "Each cached run's score with (in parentheses) its difference in points to the same decoder without a cache "
        "at the same budget (negative = loss from caching), paired on the shared documents with its 95% interval "
        "[low, high]; * = the interval excludes zero.", "versus-cache")


def groups_table(board: Leaderboard) -> Table | None:
    scores = board.scores[board.scores["group"]]
    if scores.empty:
        return None
    runs = board.runs.loc[sorted(set(scores["run"]))]
    cols = shown_columns(board, runs)
    rows = []
    for _, s in scores.sort_values(["task", "metric", "run"], kind="stable").iterrows():
        info = board.groups.get(s["task"], GroupInfo([]))
        kinds = info.kinds.get(s["metric"].split(" (")[0], [])
        how = ("mean of " + ", ".join(info.subtasks) + (" (mixes " + " with ".join(kinds) + ")" if len(kinds) > 1
                                                         else ""))
        rows.append([Cell(s["task"]), Cell(s["metric"])] + [setting_cell(runs.loc[s["run"]], c) for c in cols]
                    + [Cell(fmt_value(s["n"]), s["n"]), score_cell(s), Cell(how)])
    caption = ("lm-eval group scores, as each group's YAML (`aggregate_metric_list`) defines them; shown apart from the "
               "task tables and never used for 'best'. A group that averages metrics of different kinds (see the "
               "last column) is not a score to rank by: read its tasks' tables.")
    return Table("lm-eval groups", caption, ["group", "metric"] + [HEADERS.get(c, c) for c in cols]
                 + ["n", "score ± SE", "what lm-eval averaged"], rows, anchor="groups")


def comparison_table(board: Leaderboard) -> Table | None:
    if board.comparison.empty:
        return None
    rows = []
    for _, c in board.comparison.iterrows():
        run = board.runs.loc[c["run"]]
        rows.append([Cell(str(run[k])) for k in ("model", "adapter", "decoder")]
                    + [setting_cell(run, k) for k in ("steps", "gen_length")]
                    + [Cell(c["task"]), Cell(c["metric"]), Cell(fmt_value(c["n"]), c["n"]),
                       score_cell(pd.Series({"value": c["ours"], "stderr": c["stderr"]})),
                       Cell(f"{c['published']:.2f}", c["published"]), Cell(f"{c['diff']:+.2f}", c["diff"]),
                       Cell(c["source"]),
                       Cell(f"⚠ published on {c['hardware']}, ours on {run['device_name'] or 'unknown hardware'}"
                            if c["other_hardware"] else c["hardware"])])
    caption = ("⚠ = the published number came from other hardware than this run (GPU type and backend move "
               "scores by several points); the difference is then not only the implementation's."
               if board.comparison["other_hardware"].any() else "")
    return Table("Against published numbers (same model and protocol; diff = ours - published, points)", caption,
                 ["model", "adapter", "decoder", "steps", "L", "task", "metric", "n", "ours ± SE", "published",
                  "diff", "source", "hardware"], rows, anchor="published-match")


def reference_table(frame: pd.DataFrame, title: str, anchor: str) -> Table:
    rows = [[Cell(str(r[c]) if c != "value" else f"{r[c]:g}", r[c] if c == "value" else None)
             for c in REFERENCE_COLUMNS] for _, r in frame.iterrows()]
    return Table(title, "", [HEADERS.get(c, c) for c in REFERENCE_COLUMNS], rows, anchor=anchor)


def relevant_reference(board: Leaderboard) -> pd.Series:
    """Published rows of a model or a task that the runs have."""
    models = {m.lower() for m in board.runs["model"]}
    tasks = set(board.scores["task"])
    return board.reference["model"].str.lower().isin(models) | board.reference["task"].isin(tasks)


def definitions(board: Leaderboard) -> list[tuple[str, str]]:
    """A definition of each column on the page (spec fields from SPEC_DEFINITIONS, or named generically)."""
    shown = set()
    for task in board.tasks:
        shown |= set(shown_columns(board, board.runs.loc[sorted(set(board.scores.loc[board.scores["task"] == task,
                                                                                       "run"]))]))
    items = [(k, v) for k, v in DEFINITIONS.items() if k not in ("seed", "limit", "block") or
             {"seed": "seed", "limit": "limit", "block": "block_length"}[k] in shown]
    for col in board.spec_fields:
        if col in shown and col != "block_length":
            items.append((col, SPEC_DEFINITIONS.get(col.removeprefix("spec_"),
                                                   f"decoder setting `{col}` from the run's resolved decoder spec")))
    return items


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_")
