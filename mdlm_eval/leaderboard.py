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
"""
from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import math
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from mdlm_eval.decoding import DecoderSpec, load_spec, make_plan
from mdlm_eval.errors import UsageError
from mdlm_eval.store import write_atomic

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "results" / "reference"
PLOTS_DIR = "leaderboard_plots"
HEAD = ["model", "adapter", "decoder"]  # identity, before the decoder's spec fields
TAIL = ["steps", "gen_length", "seed", "limit", "samples"]  # identity, after them
SPEC_SKIP = {"name", "description", "steps"}  # the preset name is `decoder`; the resolved steps are `steps`
COST = ["nfe_per_sample", "tokens_per_forward", "seconds_per_sample", "early_eos_share"]
EXTRAS = ["steps_arg", "samples_decoded", "samples_reused", "seconds_per_sample_from", "decode_seconds_per_sample",
          "tokens_per_second"]  # read when the manifest has them, never required
HEADERS = {"gen_length": "L", "block_length": "block", "nfe_per_sample": "NFE/sample",
           "tokens_per_forward": "tokens/forward", "seconds_per_sample": "s/sample", "early_eos_share": "early EOS %",
           "samples": "samples"}
REFERENCE_COLUMNS = ["model", "adapter", "decoder", "steps", "gen_length", "block_length", "task", "metric",
                     "value", "source", "note"]
BUDGET_FIELDS = ("threshold", "factor", "gamma")  # adaptive decoders' knobs: their points join one plot series
Z95 = 1.959964  # two-sided 95% normal quantile: interval = value +/- Z95 x SE

DEFINITIONS = {
    "n": "samples scored for this task (lm-eval's effective count; a `--limit` run is its own row with its own n)",
    "score ± SE": "lm-eval's value x 100 (percent) ± lm-eval's standard error (`<metric>_stderr`), also in percent; "
                  "a 95% interval is value ± 1.96 SE. † = lm-eval reports no SE (the metric's aggregation is not a "
                  "mean, e.g. Sudoku cell accuracy). Bold = best among rows with the same task and n",
    "steps": "the decoder's step budget resolved for this L (forward passes of a fixed-plan decoder; a cap for "
             "adaptive decoders)",
    "L": "generation length (tokens in the canvas)",
    "NFE/sample": "forward passes of the model per sample, measured (`manifest.json`; may be fractional for "
                  "adaptive decoders) or, without a manifest, from the decoder's plan; empty when neither is known",
    "tokens/forward": "L x samples / forward passes: tokens committed per forward pass",
    "s/sample": "wall seconds per sample of the run",
    "early EOS %": "share of EOS among the tokens unmasked in the first quarter of the steps, in percent: the "
                   "'EOS trap' statistic of arXiv 2509.23924 (EOSER+ASS)",
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
    "commit_rule": "how many masked positions a step commits: by the schedule's count, or adaptively",
    "threshold": "adaptive: commit every position whose confidence is at least this (Fast-dLLM)",
    "factor": "adaptive: Fast-dLLM's factor rule, the n-th most confident is committed while c_n >= 1 - f/(n+1)",
    "gamma": "adaptive: EB-sampler's entropy budget per step",
    "eps": "Dream's time-grid floor", "alg": "Dream's ranking of masked positions",
    "alg_temp": "Dream's ranking temperature",
}

Warn = Callable[[str], None]


@dataclass
class GroupInfo:
    """An lm-eval group: its subtasks, and per aggregated metric the subtasks' aggregations (several = mixed)."""

    subtasks: list[str]
    kinds: dict[str, list[str]] = field(default_factory=dict)


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


# ---- reading lm-eval results files ----


def read_results(results_dir: Path, warn: Warn) -> tuple[list[tuple[dict, list[dict], dict]], int]:
    """(settings, scores, groups) per readable results file; unreadable files are named through `warn`."""
    if not results_dir.is_dir():
        raise UsageError(f"results folder {results_dir} does not exist")
    files = sorted(results_dir.rglob("results_*.json"))
    if not files:
        raise UsageError(f"no lm-eval results files (results_*.json) under {results_dir}; "
                         f"run `mdlm-eval run` or `mdlm-eval sweep` first")
    records = []
    for path in files:
        try:
            row, scores, groups = read_one(path, warn)
        except ValueError as e:
            warn(f"skipped {path}: {e}")
            continue
        row["results_file"] = str(path.relative_to(results_dir))
        records.append((row, scores, groups))
    if not records:
        raise UsageError(f"none of the {len(files)} results files under {results_dir} could be read")
    return records, len(files)


def read_one(path: Path, warn: Warn) -> tuple[dict[str, Any], list[dict], dict[str, GroupInfo]]:
    """The setting, scores and groups of one results file; ValueError if it is not lm-eval's."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not a text file") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"truncated or not JSON ({e.msg} at line {e.lineno})") from None
    if not (isinstance(data, dict) and isinstance(data.get("results"), dict) and isinstance(data.get("config"), dict)):
        raise ValueError("not an lm-eval results file (no 'results' and 'config' mappings)")
    manifest = read_manifest(path)
    row = settings_from_manifest(manifest, data) if manifest else settings_from_config(data, path, warn)
    date = path.stem.removeprefix("results_")
    row["date"] = date
    row["trace_files"] = tuple(str(p) for p in sorted(path.parent.glob(f"samples_*_{date}.jsonl")) if has_trace(p))
    groups = group_info(data)
    return row, score_rows(data, set(groups)), groups


def number(value: Any) -> float | None:
    """A finite float, or None (lm-eval writes "N/A" for a missing standard error)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def score_rows(data: dict, groups: set[str]) -> list[dict]:
    """One entry per task and metric of lm-eval's `results` ("<metric>,<filter>" keys), in percent, with the
    standard error ("<metric>_stderr,<filter>") and the sample count."""
    rows = []
    for task, metrics in data["results"].items():
        if not isinstance(metrics, dict):
            continue
        n = sample_count(data, task, metrics)
        for key, value in metrics.items():
            metric, _, filt = key.partition(",")
            if not filt or metric.endswith("_stderr") or number(value) is None:
                continue
            stderr = number(metrics.get(f"{metric}_stderr,{filt}"))
            rows.append({"task": task, "metric": metric + ("" if filt == "none" else f" ({filt})"),
                         "value": 100.0 * value, "stderr": None if stderr is None else 100.0 * stderr, "n": n,
                         "higher": bool(data.get("higher_is_better", {}).get(task, {}).get(metric, True)),
                         "group": task in groups})
    return rows


def sample_count(data: dict, task: str, metrics: dict) -> int | None:
    """lm-eval's effective sample count of a task (n-samples), or the `sample_len` it writes for groups."""
    counts = data.get("n-samples", {}).get(task)
    if isinstance(counts, dict) and isinstance(counts.get("effective"), int):
        return counts["effective"]
    return metrics.get("sample_len") if isinstance(metrics.get("sample_len"), int) else None


def group_info(data: dict) -> dict[str, GroupInfo]:
    """Groups of a results file (`group_subtasks`), with each aggregated metric's aggregation per subtask."""
    groups = {}
    configs = data.get("configs", {})
    for group, subtasks in (data.get("group_subtasks") or {}).items():
        if not subtasks:
            continue
        info = GroupInfo(list(subtasks))
        for key in (data["results"].get(group) or {}):
            metric, _, filt = key.partition(",")
            if not filt or metric.endswith("_stderr"):
                continue
            info.kinds[metric] = sorted({aggregation_of(configs.get(t, {}), metric) for t in subtasks} - {None})
        groups[group] = info
    return groups


def aggregation_of(config: dict, metric: str) -> str | None:
    """A task config's aggregation of `metric`: "mean", or a function's name ("def cell_accuracy(...)")."""
    for entry in config.get("metric_list") or []:
        if isinstance(entry, dict) and entry.get("metric") == metric:
            agg = str(entry.get("aggregation", "mean"))
            found = re.match(r"\s*def\s+(\w+)", agg)
            return found.group(1) if found else agg
    return None


def read_manifest(results_path: Path) -> dict | None:
    """The complete `manifest.json` of the run folder holding this results file, if any."""
    for folder in (results_path.parent, results_path.parent.parent):
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and manifest.get("status") == "complete":
            return manifest
    return None


def spec_of(raw: Any) -> dict[str, Any]:
    """A resolved decoder spec as hashable values; keys an older manifest lacks take DecoderSpec's defaults."""
    if not isinstance(raw, dict):
        return {}
    defaults = {f.name: f.default for f in dataclasses.fields(DecoderSpec) if f.default is not dataclasses.MISSING}
    return {str(k): hashable(v) for k, v in {**defaults, **raw}.items()}


def hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(hashable(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def settings_from_manifest(m: dict, data: dict) -> dict[str, Any]:
    """Setting and measured cost from a run's manifest."""
    spec = spec_of(m.get("decoder_spec") or data["config"].get("decoder_spec"))
    return {
        "model": short_name(m.get("model")), "adapter": short_name(m.get("peft")),
        "decoder": spec.get("name") or m.get("decoder"), "spec": spec,
        "steps": m.get("steps"), "gen_length": m.get("gen_length"), "seed": m.get("seed"), "limit": m.get("limit"),
        "samples": m.get("samples"), **{c: number(m.get(c)) for c in COST},
        **{k: m[k] for k in EXTRAS if k in m}, "cost_from": "manifest",
    }


def settings_from_config(data: dict, path: Path, warn: Warn) -> dict[str, Any]:
    """Setting from the results file's `config` (its `decoder_spec`, else `model_args` over the preset); NFE and
    tokens per forward from the decoder's plan where it has a fixed one."""
    config = data["config"]
    args = parse_model_args(config.get("model_args"))
    length = as_int(args.get("gen_length")) if str(args.get("gen_length", "")).isdigit() else None
    spec_raw = config.get("decoder_spec") if isinstance(config.get("decoder_spec"), dict) else None
    if spec_raw is None and "decoder" in args:
        names = {f.name for f in dataclasses.fields(DecoderSpec)} - SPEC_SKIP | {"steps"}
        try:
            spec_raw = load_spec(args["decoder"]).with_overrides(
                **{k: v for k, v in args.items() if k in names and v not in ("None", "")}).to_dict()
        except UsageError as e:
            warn(f"{path}: cannot resolve decoder '{args['decoder']}' ({e}); its settings are left empty")
    spec = spec_of(spec_raw)
    n = sum(v.get("effective", 0) for v in data.get("n-samples", {}).values() if isinstance(v, dict))
    seconds = number(pd.to_numeric(data.get("total_evaluation_time_seconds"), errors="coerce"))
    row: dict[str, Any] = {
        "model": short_name(args.get("pretrained") or config.get("model")), "adapter": short_name(args.get("peft")),
        "decoder": spec.get("name") or args.get("decoder") or str(config.get("model", "")), "spec": spec,
        "steps": as_int(args.get("steps")), "steps_arg": args.get("steps"), "gen_length": length,
        "seed": as_int(args.get("seed", config.get("random_seed"))), "limit": config.get("limit"),
        "samples": n or None, **dict.fromkeys(COST), "cost_from": "model_args",
        "seconds_per_sample": seconds / n if n and seconds is not None else None,
    }
    if spec_raw and length:
        try:  # a decoder this version cannot plan (adaptive, unknown fields) keeps NFE empty
            plan_spec = DecoderSpec(**spec_raw)
            nfe = len(make_plan(plan_spec, length))
            row.update(steps=plan_spec.resolve_steps(length), nfe_per_sample=float(nfe),
                       tokens_per_forward=length / nfe)
        except (UsageError, TypeError, ValueError) as e:
            warn(f"{path}: no fixed decoding plan ({e}); NFE left empty")
    return row


def parse_model_args(model_args: Any) -> dict[str, str]:
    """lm-eval's `model_args`: "k=v,k=v" or a mapping."""
    if isinstance(model_args, dict):
        return {str(k): str(v) for k, v in model_args.items()}
    pairs = (item.split("=", 1) for item in str(model_args or "").split(",") if "=" in item)
    return {k.strip(): v.strip() for k, v in pairs}


def block_of(spec: dict, gen_length: Any) -> Any:
    """The block length a decode used (for joining published rows): None for ascending step sizes, L for one block."""
    if spec.get("schedule") == "ascending":
        return None
    return spec.get("block_length") or gen_length


def short_name(name: Any) -> str:
    """A model or adapter as the leaderboard shows it: the last component of its id or path ("" for none)."""
    if name is None or str(name) in ("", "None"):
        return ""
    return Path(str(name).rstrip("/")).name or str(name)


def has_trace(samples_file: Path) -> bool:
    """Whether the first sample of a samples file carries the trace keys."""
    try:
        with open(samples_file, encoding="utf-8") as f:
            first = json.loads(f.readline())
    except (OSError, ValueError):
        return False
    return isinstance(first, dict) and "trace_step" in first and "trace_eos" in first


def as_int(value: Any) -> Any:
    """32, 32.0 and "32" -> 32; missing -> None; anything else (a step word, a fractional limit) unchanged."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value) in ("None", ""):
        return None
    return int(float(value)) if re.fullmatch(r"\d+(\.0*)?", str(value).strip()) else value


# ---- tables ----


def spec_column(key: str) -> str:
    """The runs column of a spec field (prefixed where it would shadow a column of its own)."""
    return f"spec_{key}" if key in HEAD + TAIL + COST + EXTRAS + ["run"] else key


def merge_settings(records: list[tuple[dict, list[dict], dict]]) -> tuple[pd.DataFrame, list[str], pd.DataFrame]:
    """One row per distinct setting (oldest to newest: a newer file's scores replace the older ones)."""
    merged: dict[tuple, tuple[dict, dict]] = {}
    for row, scores, _ in sorted(records, key=lambda r: r[0]["date"]):
        for col in TAIL:
            row[col] = as_int(row.get(col))
        key = (row["model"], row["adapter"], row["decoder"], tuple(sorted(row["spec"].items(), key=lambda kv: kv[0])),
               *(row[c] for c in TAIL))
        old_row, old_scores = merged.get(key, ({}, {}))
        row["trace_files"] = row["trace_files"] or old_row.get("trace_files", ())
        merged[key] = (row, {**old_scores, **{(s["task"], s["metric"]): s for s in scores}})
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
    for col in HEAD + TAIL + EXTRAS + spec_fields:
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
                         "diff": s["value"] - ref["value"], "source": ref["source"]})
    return pd.DataFrame(rows, columns=["run", "task", "metric", "ours", "stderr", "n", "published", "diff", "source"])


def build_tables(results_dir: Path, reference_dir: Path | None, warn: Warn) -> Leaderboard:
    records, files = read_results(results_dir, warn)
    runs, spec_fields, scores = merge_settings(records)
    groups: dict[str, GroupInfo] = {}
    for _, _, g in records:
        groups.update(g)
    reference = load_reference(reference_dir, warn)
    return Leaderboard(runs, spec_fields, scores, groups, reference, compare(runs, scores, reference), files)


def varies(values: pd.Series) -> bool:
    return len({repr(v) for v in values}) > 1


def shown_columns(board: Leaderboard, runs: pd.DataFrame) -> list[str]:
    """Setting columns that distinguish these rows: model and adapter if they vary, the decoder, each spec field
    that varies among rows of one decoder preset (a field fixed by the preset is told by its name), steps, and L,
    seed and limit if they vary."""
    cols = [c for c in ("model", "adapter") if varies(runs[c])] + ["decoder"]
    cols += [f for f in board.spec_fields if any(varies(g[f]) for _, g in runs.groupby("decoder", sort=False))]
    return cols + ["steps"] + [c for c in ("gen_length", "seed", "limit") if varies(runs[c])]


def constants(runs: pd.DataFrame) -> str:
    """The setting shared by all these rows, e.g. "model toy, L 32, seed 0"."""
    parts = []
    for col in ("model", "adapter", "gen_length", "seed", "limit"):
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


def score_cell(s: pd.Series | None) -> Cell:
    if s is None:
        return Cell("")
    se = "" if s["stderr"] is None or pd.isna(s["stderr"]) else f" ± {s['stderr']:.2f}"
    return Cell(f"{s['value']:.2f}" + (se or " †"), s["value"])


def best_runs(frame: pd.DataFrame) -> set[int]:
    """Runs holding the best value of one task metric among rows with the same n (ties all; needs two values)."""
    best = set()
    for _, same in frame.groupby(frame["n"].fillna(-1)):
        values = same["value"].astype(float)
        if values.nunique() >= 2:
            target = values.max() if same["higher"].iloc[0] else values.min()
            best |= set(same.loc[np.isclose(values, target), "run"])
    return best


def task_table(board: Leaderboard, task: str) -> Table:
    """One task: a row per setting with its n, each metric ± SE, and the decoding cost."""
    scores = board.scores[board.scores["task"] == task]
    metrics = list(dict.fromkeys(scores["metric"]))
    runs = board.runs.loc[sorted(set(scores["run"]))]
    runs = runs.assign(_n=[scores.loc[scores["run"] == r, "n"].max() for r in runs.index])
    runs = runs.sort_values("_n", ascending=False, kind="stable", key=lambda c: c.fillna(-1))
    cols = shown_columns(board, runs)
    best = {m: best_runs(scores[scores["metric"] == m]) for m in metrics}
    by = {(r, m): s for _, s in scores.iterrows() for r, m in [(s["run"], s["metric"])]}
    rows = []
    for i, run in runs.iterrows():
        cells = [setting_cell(run, c) for c in cols]
        cells.append(Cell(fmt_value(run["_n"]), run["_n"]))
        for m in metrics:
            cell = score_cell(by.get((i, m)))
            cell.bold = i in best[m]
            cells.append(cell)
        cells += [setting_cell(run, c) for c in COST]
        rows.append(cells)
    header = [HEADERS.get(c, c) for c in cols] + ["n"] + [f"{m} ± SE" for m in metrics] + [HEADERS[c] for c in COST]
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


def versus_table(board: Leaderboard, col: str, base: Callable[[Any], bool], title: str, caption: str,
                 anchor: str) -> tuple[Table | None, pd.DataFrame]:
    """Paper layout: a row per setting of `col` (e.g. adapter) x decoder x steps, a column per task metric at each L;
    each non-base cell with its difference (points) to the base setting that differs only in `col`."""
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
    grid: dict[str, dict] = {}
    for i, run in runs.iterrows():
        steps = run["steps_arg"] if run["steps_arg"] is not None else run["steps"]
        label = tuple((c, steps if c == "steps" else run[c]) for c in row_cols)
        entry = grid.setdefault(repr(label), {"label": label, "cells": {}})
        for _, s in scores[scores["run"] == i].iterrows():
            ref = board.scores[(board.scores["run"] == base_of.get(i, -1)) & (board.scores["task"] == s["task"])
                               & (board.scores["metric"] == s["metric"])]
            diff = s["value"] - ref["value"].iloc[0] if len(ref) else None
            entry["cells"][(s["task"], s["metric"], run["gen_length"])] = (s["value"], s["stderr"], diff)
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
                text = "" if value is None else f"{value[0]:.2f}" + (
                    f" ({value[2]:+.2f})" if value[2] is not None else "")
                cells.append(Cell(text, value[0] if value else None))
        records.append(record)
        rows.append(cells)
    header = [HEADERS.get(c, c) for c in row_cols] + [f"{t}/{m} L{length}" for t, m in metrics for length in lengths]
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
        "decoder, budget, seed and n.", "versus-base")


def cache_table(board: Leaderboard) -> tuple[Table | None, pd.DataFrame]:
    column = spec_column("cache")
    if column not in board.runs:
        return None, pd.DataFrame()
    return versus_table(
        board, column, is_uncached, "Cached against uncached decoding",
        "Each cached run's score with (in parentheses) its difference in points to the same decoder without a cache "
        "at the same budget (negative = loss from caching).", "versus-cache")


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
                       Cell(c["source"])])
    return Table("Against published numbers (same model and protocol; diff = ours - published, points)", "",
                 ["model", "adapter", "decoder", "steps", "L", "task", "metric", "n", "ours ± SE", "published",
                  "diff", "source"], rows, anchor="published-match")


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


# ---- plots ----


def png(fig: Figure, extra: list | None = None) -> bytes:
    """The figure as PNG bytes, cropped to its content plus the `extra` artists kept out of its layout."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", bbox_extra_artists=extra,
                metadata={"Software": None})
    return buffer.getvalue()


MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h", "p"]
LINES = ["-", "--", ":", "-."]


def spread(ys: list[float], gap: float, top: float) -> list[float]:
    """Label heights in the order of `ys`, at least `gap` apart, as close to `ys` as possible and none above `top`."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    placed = [ys[i] for i in order]
    for k in range(1, len(placed)):  # push up
        placed[k] = max(placed[k], placed[k - 1] + gap)
    for k in reversed(range(len(placed))):  # then down, under the top
        placed[k] = min(placed[k], top if k == len(placed) - 1 else placed[k + 1] - gap)
    out = [0.0] * len(ys)
    for k, i in enumerate(order):
        out[i] = placed[k]
    return out


def score_plot(board: Leaderboard, task: str, metric: str) -> bytes | None:
    """Score (± 95% interval) against NFE per sample: a series per setting, a point per budget, labelled at its
    right end; published points of the same protocol as stars."""
    scores = board.scores[(board.scores["task"] == task) & (board.scores["metric"] == metric)]
    runs = board.runs.loc[sorted(set(scores["run"]))]
    runs = runs[pd.to_numeric(runs["nfe_per_sample"], errors="coerce").notna()]
    if runs.empty:
        return None
    value = scores.set_index("run")
    series: dict[tuple, list[int]] = {}
    for i in runs.index:
        series.setdefault(family(board, runs, i), []).append(i)
    many_n = len({n for _, n in series}) > 1
    nfes = sorted({float(v) for v in runs["nfe_per_sample"]})
    dodge = 1.025 if len(series) > 1 else 1.0  # x factor between neighbouring series (log axis: a constant gap)
    fig = Figure(figsize=(3.9, 3.3), layout="constrained")
    ax = fig.add_subplot()
    ends, knobs = [], set()
    for k, ((name, n), members) in enumerate(sorted(series.items(), key=lambda kv: str(kv[0]))):
        xs = np.array([float(runs.at[i, "nfe_per_sample"]) for i in members])
        order = np.argsort(xs)
        raw = xs[order]
        xs = raw * dodge ** (k - (len(series) - 1) / 2)  # coinciding points stay apart
        ys = np.array([value.at[members[j], "value"] for j in order])
        errs = np.array([Z95 * (value.at[members[j], "stderr"] or 0.0) if pd.notna(value.at[members[j], "stderr"])
                         else 0.0 for j in order])
        color = f"C{k % 10}"
        ax.errorbar(xs, ys, yerr=errs if errs.any() else None, color=color, marker=MARKERS[k % len(MARKERS)],
                    linestyle=LINES[(k // 10 + k) % len(LINES)], markersize=5, linewidth=1.3, capsize=2,
                    elinewidth=0.7, alpha=0.9)
        ends.append((xs[-1], ys[-1], name + (f" n={n}" if many_n else ""), color, raw[-1]))
        for field in BUDGET_FIELDS:  # an adaptive decoder's points: their knob's value
            if field in runs and varies(runs.loc[members, field]):
                for x, y, j in zip(xs, ys, order):
                    if (knob := (field, raw[list(order).index(j)], runs.at[members[j], field])) in knobs:
                        continue  # already named by a series drawn at the same place
                    knobs.add(knob)
                    ax.annotate(f"{fmt_value(runs.at[members[j], field])}", (x, y), xytext=(3, -9),
                                textcoords="offset points", fontsize=6, color=color)
        for _, c in board.comparison[board.comparison["run"].isin(members) & (board.comparison["task"] == task)
                                     & (board.comparison["metric"] == metric)].iterrows():
            ax.scatter([float(runs.at[c["run"], "nfe_per_sample"])], [c["published"]], marker="*", s=90,
                       facecolors="none", edgecolors=color, linewidths=1.1, zorder=4)
    ax.set_xscale("log", base=2)
    if len(nfes) <= 8 and all(b / a >= 1.3 for a, b in zip(nfes, nfes[1:])):
        ax.set_xticks(nfes)  # the budgets themselves, where their labels have room
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi)
    ax.set_xlim(min(nfes) / 1.25, max(nfes) * 1.25)
    heights = spread([(y - lo) / (hi - lo) for _, y, _, _, _ in ends], 0.065, 1.0)
    notes = []
    for (x, y, label, color, _), h in zip(ends, heights):  # named in the right margin, a leader line to its end
        note = ax.annotate(label, (x, y), xytext=(1.03, h), textcoords="axes fraction", fontsize=7, color=color,
                           va="center", arrowprops={"arrowstyle": "-", "color": color, "lw": 0.5, "alpha": 0.5})
        note.set_in_layout(False)  # the axes keep their size; the saved image grows to hold the names
        notes.append(note)
    ax.set_xlabel("NFE per sample (forward passes, log scale)")
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title(f"{task} {metric}: score against forward passes", fontsize=9)
    if not board.comparison.empty and board.comparison["run"].isin(runs.index).any():
        ax.scatter([], [], marker="*", facecolors="none", edgecolors="gray", label="published (same protocol)")
        ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return png(fig, [*notes, *ax.get_children()])


def accuracy_nfe_plots(board: Leaderboard) -> dict[str, bytes]:
    """Per task metric (groups left out): score versus NFE per sample."""
    plots = {}
    tasks = board.scores[~board.scores["group"]]
    for task, metric in dict.fromkeys(zip(tasks["task"], tasks["metric"])):
        image = score_plot(board, task, metric)
        if image is not None:
            plots[f"nfe_{slug(f'{task}/{metric}')}.png"] = image
    return dict(sorted(plots.items()))


def trace_matrix(samples_file: Path) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Counts [step, position] of positions unmasked at each step, and of those that were EOS; sample count."""
    steps, eos = [], []
    with open(samples_file, encoding="utf-8") as f:
        for line in f:
            try:
                sample = json.loads(line)
                steps.append([int(s) for s in sample["trace_step"]])
                eos.append([int(e) for e in sample["trace_eos"]])
            except (ValueError, KeyError, TypeError):
                continue
    if not steps:
        return None
    length = max(len(s) for s in steps)
    num_steps = max(max(s, default=-1) for s in steps) + 1
    counts = np.zeros((max(num_steps, 1), length))
    eos_counts = np.zeros_like(counts)
    for row_steps, row_eos in zip(steps, eos):
        for pos, (step, is_eos) in enumerate(zip(row_steps, row_eos)):
            if step >= 0:
                counts[step, pos] += 1
                eos_counts[step, pos] += is_eos
    return counts, eos_counts, len(steps)


def heatmaps(board: Leaderboard) -> dict[str, bytes]:
    """Per traced run: decoding order (share of samples unmasking each position at each step), EOS marked."""
    plots = {}
    labels = run_labels(board)
    for i, run in board.runs.iterrows():
        files = [Path(p) for p in (run["trace_files"] or ())]
        matrices = [(task_of(p), m) for p in files if (m := trace_matrix(p)) is not None]
        if not matrices:
            continue
        fig = Figure(figsize=(7.0, 2.4 * len(matrices) + 0.6), layout="constrained")
        for k, (task, (counts, eos_counts, n)) in enumerate(matrices):
            ax = fig.add_subplot(len(matrices), 1, k + 1)
            image = ax.imshow(counts / n, aspect="auto", origin="lower", cmap="Blues", interpolation="nearest")
            ys, xs = np.nonzero((eos_counts >= 0.5 * counts) & (counts > 0))
            ax.scatter(xs, ys, marker="x", s=10, color="tab:red", linewidths=0.8, label="mostly EOS")
            ax.set_title(f"{task} ({n} samples)", fontsize=9)
            ax.set_xlabel("generated position")
            ax.set_ylabel("step")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            fig.colorbar(image, ax=ax, label="share unmasked")
            if len(xs):
                ax.legend(fontsize=7, loc="upper left")
        fig.suptitle(f"Decoding order: {labels[i]}", fontsize=10)
        plots[f"order_{slug(labels[i])}.png"] = png(fig)
    return plots


def run_labels(board: Leaderboard) -> dict[int, str]:
    """A name per run: model, decoder, steps, L, block; settings that still collide add what tells them apart."""
    labels = {}
    for i, run in board.runs.iterrows():
        model = run["model"] + (f"+{run['adapter']}" if run["adapter"] else "")
        label = f"{model} {run['decoder']} steps {run['steps']} L {run['gen_length']}"
        block = block_of({"schedule": run.get("schedule"), "block_length": run.get("block_length")}, run["gen_length"])
        labels[i] = label if block is None else f"{label} block {block}"
    for label in {v for v in labels.values() if list(labels.values()).count(v) > 1}:
        same = [i for i, v in labels.items() if v == label]
        rows = board.runs.loc[same]
        extra = [c for c in board.identity if varies(rows[c])]
        for i in same:
            labels[i] = label + "".join(f" {HEADERS.get(c, c)} {fmt_value(rows.at[i, c])}" for c in extra)
    return labels


def task_of(samples_file: Path) -> str:
    """`samples_<task>_<date>.jsonl` -> task."""
    return samples_file.stem.removeprefix("samples_").rsplit("_", 1)[0]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_")


# ---- rendering ----


def markdown_table(table: Table) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    rows = [[f"**{c.text}**" if c.bold and c.text else c.text for c in r] for r in table.rows]
    return "\n".join([line(table.header), "|" + "---|" * len(table.header)] + [line(r) for r in rows])


def html_table(table: Table) -> str:
    head = "".join(f"<th title='sort'>{html.escape(h)}</th>" for h in table.header)

    def td(c: Cell) -> str:
        numeric = not (c.sort is None or (isinstance(c.sort, float) and np.isnan(c.sort)))
        sort = f" data-v='{c.sort}'" if numeric else " class='t'" if c.text else ""
        text = html.escape(c.text)
        return f"<td{sort}>{f'<b>{text}</b>' if c.bold and text else text}</td>"

    body = "".join("<tr>" + "".join(td(c) for c in r) + "</tr>" for r in table.rows)
    return f"<div class='scroll'><table class='sortable'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


@dataclass
class Page:
    """The page's parts in order: plots, task tables, comparisons, definitions, published, the rest."""

    summary: str
    plots: dict[str, bytes]
    main: list[Table]
    published_relevant: list[Table]
    rest: list[Table]
    definitions: list[tuple[str, str]]
    heatmaps: dict[str, bytes]


def page_of(board: Leaderboard, plots: dict[str, bytes], orders: dict[str, bytes]) -> Page:
    main = [task_table(board, t) for t in board.tasks]
    main += [t for t in (checkpoint_table(board)[0], cache_table(board)[0]) if t is not None]
    relevant = relevant_reference(board)
    published = [t for t in (comparison_table(board),) if t is not None]
    if relevant.any():
        published.append(reference_table(board.reference[relevant], "Published numbers for these models and tasks",
                                         "published"))
    rest = [t for t in (groups_table(board),) if t is not None]
    if (~relevant).any():
        rest.append(reference_table(board.reference[~relevant], "Other published numbers (results/reference/*.csv)",
                                    "published-other"))
    summary = (f"{len(board.runs)} settings from {board.files} results files. Scores in percent ± lm-eval's standard "
               f"error (95% interval: ± 1.96 SE), each with its sample count n; bold = best among rows scored on the "
               f"same items (same task and n). A row is one resolved setting (model, adapter, decoder spec, steps, "
               f"L, seed, limit, samples); columns show the settings that tell rows apart, the shared ones are "
               f"above each table.")
    return Page(summary, plots, main, published, rest, definitions(board), orders)


def render_markdown(page: Page) -> str:
    parts = ["# Leaderboard", "", page.summary, ""]
    if page.plots:
        parts += ["## Score against forward passes", ""]
        parts += [f"![{name}]({PLOTS_DIR}/{name})" for name in page.plots] + [""]
    for heading, tables in (("", page.main), ("Published numbers", page.published_relevant)):
        if heading:
            parts += [f"## {heading}", ""] + ([] if tables else ["(none for these models and tasks)", ""])
        for table in tables:
            parts += [f"### {table.title}" if heading else f"## {table.title}", ""]
            parts += ([table.caption, ""] if table.caption else []) + [markdown_table(table), ""]
        if not heading:
            parts += ["## Columns", ""] + [f"- **{k}**: {v}" for k, v in page.definitions] + [""]
    for table in page.rest:
        parts += [f"## {table.title}", ""] + ([table.caption, ""] if table.caption else [])
        parts += [markdown_table(table), ""]
    if page.heatmaps:
        parts += ["## Decoding order (traced runs)", ""] + [f"![{n}]({PLOTS_DIR}/{n})" for n in page.heatmaps] + [""]
    return "\n".join(parts)


SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0], rows = Array.from(body.rows), up = th.dataset.up !== '1';
    th.dataset.up = up ? '1' : '0';
    function key(r) { var c = r.cells[col]; return c.dataset.v !== undefined ? parseFloat(c.dataset.v) : c.textContent; }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var d = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
      return up ? d : -d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

STYLE = """
body{font-family:system-ui,sans-serif;margin:12px 18px;font-size:14px;max-width:1800px}
h1{font-size:20px;margin:4px 0}h2{font-size:16px;margin:14px 0 4px}h3{font-size:14px;margin:10px 0 4px}
p.summary{margin:2px 0 6px;color:#333;font-size:13px}p.caption{margin:2px 0 4px;color:#555;font-size:12px}
.plots{display:flex;flex-wrap:wrap;gap:8px}.plots img{height:210px;width:auto;max-width:100%}
.plots figure{margin:0;flex:0 0 auto;max-width:100%}
div.scroll{overflow:auto;max-height:60vh;max-width:100%;width:fit-content;border:1px solid #ddd;margin-bottom:6px}
table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap}
th{background:#f3f3f3;position:sticky;top:0;cursor:pointer}
td.t{text-align:left}td.t:last-child{white-space:normal;min-width:18em}
dl{font-size:12px;columns:2 420px}dt{font-weight:bold;break-after:avoid}dd{margin:0 0 4px 10px}
details{margin:8px 0}summary{cursor:pointer;font-weight:bold}
"""


def render_html(page: Page) -> str:
    def section(table: Table, level: str = "h3") -> str:
        caption = f"<p class='caption'>{html.escape(table.caption)}</p>" if table.caption else ""
        return f"<{level} id='{table.anchor}'>{html.escape(table.title)}</{level}>{caption}{html_table(table)}"

    def images(plots: dict[str, bytes]) -> str:
        return "<div class='plots'>" + "".join(
            f"<figure><img alt='{html.escape(n)}' title='{html.escape(n)}' "
            f"src='data:image/png;base64,{base64.b64encode(d).decode()}'></figure>" for n, d in plots.items()) + "</div>"

    body = [f"<h1>mdlm-eval leaderboard</h1><p class='summary'>{html.escape(page.summary)} "
            f"<a href='#columns'>Column definitions</a>.</p>"]
    if page.plots:
        body.append("<h2>Score against forward passes (±95% interval; ☆ = published, same protocol)</h2>"
                    + images(page.plots))
    body.append("<h2>Tables</h2>" + "".join(section(t) for t in page.main))
    body.append("<h2 id='columns'>Columns</h2><dl>" + "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in page.definitions) + "</dl>")
    body.append("<h2>Published numbers</h2>" + ("".join(section(t) for t in page.published_relevant)
                                                or "<p class='caption'>(none for these models and tasks)</p>"))
    for table in page.rest:
        body.append(f"<details><summary>{html.escape(table.title)}</summary>{section(table)}</details>")
    if page.heatmaps:
        body.append("<details><summary>Decoding order (traced runs)</summary>" + images(page.heatmaps) + "</details>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
            f"<title>mdlm-eval leaderboard</title><style>{STYLE}</style></head><body>{''.join(body)}"
            f"<script>{SORT_SCRIPT}</script></body></html>\n")


def csv_table(board: Leaderboard) -> pd.DataFrame:
    """One row per setting with raw numbers: identity, cost, per score its value, SE and n, and `best_in`."""
    spec = [c for c in board.spec_fields if c != "block_length"]
    first = HEAD + ["steps", "gen_length"] + (["block_length"] if "block_length" in board.spec_fields else [])
    order = first + spec + ["seed", "limit", "samples"] + COST + EXTRAS + ["cost_from", "results_file"]
    table = board.runs[[c for c in order if c in board.runs]].copy()
    best: dict[int, list[str]] = {i: [] for i in table.index}
    for (task, metric), frame in board.scores.groupby(["task", "metric"], sort=True):
        name = f"{task}/{metric}"
        by_run = frame.set_index("run")
        table[name] = by_run["value"].reindex(table.index)
        table[f"{name} stderr"] = by_run["stderr"].reindex(table.index)
        table[f"{name} n"] = by_run["n"].reindex(table.index).astype("Int64")
        if not frame["group"].iloc[0]:
            for run in best_runs(frame):
                best[run].append(name)
    table["best_in"] = [";".join(best[i]) for i in table.index]
    return table


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


# ---- the page in a real browser ----


def chromium() -> str | None:
    """A headless-capable Chromium on PATH (Debian's `chromium`, or Chrome), or None."""
    return next((p for name in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(name))), None)


def browser(page: Path, *args: str, size: tuple[int, int] = (1366, 768), timeout: float = 120) -> str:
    """Run headless Chromium on a local page with `args`; its standard output. UsageError without Chromium."""
    binary = chromium()
    if binary is None:
        raise UsageError("no Chromium found (install Debian's `chromium` package) to render the page")
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
               f"--window-size={size[0]},{size[1]}", "--virtual-time-budget=5000", *args, page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited with {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


def screenshot(page: str | Path, out: str | Path, size: tuple[int, int] = (1366, 768)) -> Path:
    """The first screen of `page` (a laptop's 1366 x 768 by default) as a PNG, rendered by headless Chromium."""
    page, out = Path(page), Path(out)
    if not page.is_file():
        raise UsageError(f"page {page} does not exist; run `make leaderboard` first")
    out.parent.mkdir(parents=True, exist_ok=True)
    browser(page, f"--screenshot={out.resolve()}", size=size)
    if not out.is_file():
        raise RuntimeError(f"chromium wrote no screenshot to {out}")
    return out
