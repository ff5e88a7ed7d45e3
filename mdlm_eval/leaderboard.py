"""Results -> leaderboard: tables (Markdown, CSV, HTML) and plots from every lm-eval results file under a folder.

One row per model x adapter x decoder x steps x generation length x block length, one column per task
metric (in percent: lm-eval's value x 100), plus the decoding cost: NFE per sample, tokens per forward pass,
wall seconds per sample. Settings and cost come from the run's `manifest.json` (written by `mdlm-eval run`)
where there is one, else from the `model_args` of the results file (cost then computed from the decoder's
plan). Published numbers (`results/reference/*.csv`) are listed beside the runs, and where a run has the same
model, adapter and protocol (decoder, steps, L, block length, task, metric) the difference is shown.
"""
from __future__ import annotations

import base64
import html
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mdlm_eval.decoding import DecoderSpec, load_spec, make_plan
from mdlm_eval.errors import UsageError
from mdlm_eval.store import write_atomic

from mdlm_eval.paths import REFERENCE_DIR  # noqa: E402  (the checkout's results/reference/, or a wheel's copy)
PLOTS_DIR = "leaderboard_plots"
KEY = ["model", "adapter", "decoder", "steps", "gen_length", "block_length"]
COST = ["nfe_per_sample", "tokens_per_forward", "seconds_per_sample", "early_eos_share"]
COST_LOWER_IS_BETTER = {"nfe_per_sample": True, "tokens_per_forward": False, "seconds_per_sample": True,
                        "early_eos_share": True}
HEADERS = {"gen_length": "L", "block_length": "block", "nfe_per_sample": "NFE/sample",
           "tokens_per_forward": "tokens/forward", "seconds_per_sample": "s/sample",
           "early_eos_share": "early EOS"}
REFERENCE_COLUMNS = ["model", "adapter", "decoder", "steps", "gen_length", "block_length", "task", "metric",
                     "value", "source", "note"]

Warn = Callable[[str], None]


@dataclass
class Leaderboard:
    """The tables of a leaderboard, before rendering."""

    runs: pd.DataFrame  # one row per KEY; KEY + score columns + COST + samples, cost_from, results_file, trace_files
    scores: list[str]  # score columns, "task/metric"
    higher_is_better: dict[str, bool]
    reference: pd.DataFrame  # REFERENCE_COLUMNS
    comparison: pd.DataFrame  # KEY + task, metric, ours, published, diff, source
    files: int  # results files read


# ---- reading lm-eval results files ----


def read_results(results_dir: Path, warn: Warn) -> tuple[pd.DataFrame, dict[str, bool]]:
    """One row per readable results file; unreadable files are named through `warn` and skipped."""
    if not results_dir.is_dir():
        raise UsageError(f"results folder {results_dir} does not exist")
    files = sorted(results_dir.rglob("results_*.json"))
    if not files:
        raise UsageError(f"no lm-eval results files (results_*.json) under {results_dir}; "
                         f"run `mdlm-eval run` or `mdlm-eval sweep` first")
    rows, directions = [], {}
    for path in files:
        try:
            row, hib = read_one(path, warn)
        except ValueError as e:
            warn(f"skipped {path}: {e}")
            continue
        row["results_file"] = str(path.relative_to(results_dir))
        rows.append(row)
        directions.update(hib)
    if not rows:
        raise UsageError(f"none of the {len(files)} results files under {results_dir} could be read")
    return pd.DataFrame(rows), directions


def read_one(path: Path, warn: Warn) -> tuple[dict[str, Any], dict[str, bool]]:
    """The settings, scores (percent) and cost of one results file; ValueError if it is not lm-eval's."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not a text file") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"truncated or not JSON ({e.msg} at line {e.lineno})") from None
    if not (isinstance(data, dict) and isinstance(data.get("results"), dict) and isinstance(data.get("config"), dict)):
        raise ValueError("not an lm-eval results file (no 'results' and 'config' mappings)")
    scores, directions = score_columns(data)
    manifest = read_manifest(path)
    row = settings_from_manifest(manifest) if manifest else settings_from_model_args(data, path, warn)
    date = path.stem.removeprefix("results_")
    row.update(scores)
    row["date"] = date
    row["trace_files"] = tuple(str(p) for p in sorted(path.parent.glob(f"samples_*_{date}.jsonl")) if has_trace(p))
    return row, directions


def score_columns(data: dict) -> tuple[dict[str, float], dict[str, bool]]:
    """{"task/metric": percent} from lm-eval's `results` ("<metric>,<filter>" keys; stderr left out)."""
    scores, directions = {}, {}
    for task, metrics in data["results"].items():
        if not isinstance(metrics, dict):
            continue
        for key, value in metrics.items():
            if "," not in key or "_stderr" in key or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            metric, filt = key.split(",", 1)
            name = f"{task}/{metric}" + ("" if filt == "none" else f" ({filt})")
            scores[name] = 100.0 * value
            directions[name] = bool(data.get("higher_is_better", {}).get(task, {}).get(metric, True))
    return scores, directions


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


def settings_from_manifest(m: dict) -> dict[str, Any]:
    """Settings and measured cost from a run's manifest (block length from its resolved `decoder_spec`)."""
    try:
        spec = DecoderSpec(**m["decoder_spec"])
        decoder, block = spec.name, block_of(spec, m.get("gen_length"))
    except (KeyError, TypeError, UsageError):
        decoder, block = m.get("decoder"), m.get("block_length")
    return {
        "model": short_name(m.get("model")), "adapter": short_name(m.get("peft")), "decoder": decoder,
        "steps": m.get("steps"), "gen_length": m.get("gen_length"), "block_length": block,
        "nfe_per_sample": m.get("nfe_per_sample"), "tokens_per_forward": m.get("tokens_per_forward"),
        "seconds_per_sample": m.get("seconds_per_sample"), "early_eos_share": m.get("early_eos_share"),
        "samples": m.get("samples"), "cost_from": "manifest",
    }


def settings_from_model_args(data: dict, path: Path, warn: Warn) -> dict[str, Any]:
    """Settings from `config.model_args`; NFE and tokens per forward from the decoder's plan."""
    config = data["config"]
    args = parse_model_args(config.get("model_args"))
    decoder = args.get("decoder") or str(config.get("model", ""))
    length = int(args["gen_length"]) if str(args.get("gen_length", "")).isdigit() else None
    row: dict[str, Any] = {
        "model": short_name(args.get("pretrained") or config.get("model")), "adapter": short_name(args.get("peft")),
        "decoder": decoder, "steps": args.get("steps"), "gen_length": length, "block_length": None,
        "nfe_per_sample": None, "tokens_per_forward": None, "seconds_per_sample": None, "early_eos_share": None,
        "cost_from": "model_args",
    }
    n = sum(v.get("effective", 0) for v in data.get("n-samples", {}).values() if isinstance(v, dict))
    row["samples"] = n or None
    seconds = pd.to_numeric(data.get("total_evaluation_time_seconds"), errors="coerce")
    if n and pd.notna(seconds):
        row["seconds_per_sample"] = float(seconds) / n
    if "decoder" in args and length:
        overrides = {k: args[k] for k in ("steps", "block_length", "block_num") if args.get(k) not in (None, "None")}
        try:
            spec = load_spec(decoder).with_overrides(**overrides)
            nfe = len(make_plan(spec, length))
        except UsageError as e:
            warn(f"{path}: cannot work out the decoding plan ({e}); NFE left empty")
        else:
            row.update(decoder=spec.name, steps=spec.resolve_steps(length), block_length=block_of(spec, length),
                       nfe_per_sample=float(nfe), tokens_per_forward=length / nfe)
    return row


def parse_model_args(model_args: Any) -> dict[str, str]:
    """lm-eval's `model_args`: "k=v,k=v" or a mapping."""
    if isinstance(model_args, dict):
        return {str(k): str(v) for k, v in model_args.items()}
    pairs = (item.split("=", 1) for item in str(model_args or "").split(",") if "=" in item)
    return {k.strip(): v.strip() for k, v in pairs}


def block_of(spec: DecoderSpec, gen_length: int | None) -> int | None:
    """The block length the decode used: None for ascending step sizes, L for one block."""
    if spec.schedule == "ascending":
        return None
    return spec.block_length or gen_length


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


# ---- tables ----


def runs_table(files: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Merge results files of the same settings (the newest value of each column wins), sorted."""
    scores = sorted(c for c in files.columns if "/" in c)
    files = files.sort_values("date")
    files["trace_files"] = files["trace_files"].map(lambda t: t or None)  # so that the newest trace wins
    for col in KEY[3:]:
        files[col] = int_column(files[col])
    table = files.groupby(KEY, dropna=False, sort=False).last().reset_index()
    for col in KEY[3:]:  # grouping turns a key column holding None into floats
        table[col] = int_column(table[col])
    table = table.sort_values(["model", "adapter", "decoder", "gen_length", "steps"], key=_sort_key).reset_index(drop=True)
    return table[KEY + scores + COST + ["samples", "cost_from", "results_file", "trace_files"]], scores


def as_int(value: Any) -> Any:
    """32, 32.0 and "32" -> 32; missing -> None; anything else (a step word) unchanged."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return int(float(value)) if re.fullmatch(r"\d+(\.0*)?", str(value).strip()) else value


def int_column(col: pd.Series) -> pd.Series:
    """An object column of ints and None (pandas would make floats of ints beside a missing value)."""
    return pd.Series([as_int(v) for v in col], index=col.index, dtype=object)


def _sort_key(col: pd.Series) -> pd.Series:
    return col.map(lambda v: (0, v, "") if isinstance(v, (int, float)) and not pd.isna(v) else (1, 0, str(v)))


def best_marks(table: pd.DataFrame, directions: dict[str, bool]) -> pd.DataFrame:
    """True where a cell holds its column's best value (ties all marked); only columns whose values differ."""
    marks = pd.DataFrame(False, index=table.index, columns=table.columns)
    for col, higher in directions.items():
        values = pd.to_numeric(table[col], errors="coerce")
        if values.nunique() >= 2:
            best = values.max() if higher else values.min()
            marks[col] = np.isclose(values, best) & values.notna()
    return marks


def directions_of(scores: list[str], higher_is_better: dict[str, bool]) -> dict[str, bool]:
    return {**{c: higher_is_better.get(c, True) for c in scores}, **{c: not low for c, low in COST_LOWER_IS_BETTER.items()}}


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


def compare(table: pd.DataFrame, scores: list[str], reference: pd.DataFrame) -> pd.DataFrame:
    """Each (run, score) beside every published row of the same protocol (rows that state steps and L)."""
    published: dict[tuple, list[pd.Series]] = {}
    for _, ref in reference.iterrows():
        if ref["steps"].strip() and ref["gen_length"].strip():
            key = join_key(ref["model"], ref["adapter"], ref["decoder"], ref["steps"], ref["gen_length"],
                           ref["block_length"], ref["task"], ref["metric"])
            published.setdefault(key, []).append(ref)
    rows = []
    for _, run in table.iterrows():
        for col in scores:
            if pd.isna(run[col]):
                continue
            task, metric = col.split("/", 1)
            key = join_key(*(run[k] for k in KEY), task, metric)
            for ref in published.get(key, []):
                rows.append({**{k: run[k] for k in KEY}, "task": task, "metric": metric, "ours": run[col],
                             "published": ref["value"], "diff": run[col] - ref["value"], "source": ref["source"]})
    return pd.DataFrame(rows, columns=KEY + ["task", "metric", "ours", "published", "diff", "source"])


def build_tables(results_dir: Path, reference_dir: Path | None, warn: Warn) -> Leaderboard:
    files, higher_is_better = read_results(results_dir, warn)
    table, scores = runs_table(files)
    reference = load_reference(reference_dir, warn)
    return Leaderboard(table, scores, higher_is_better, reference, compare(table, scores, reference), len(files))


# ---- plots ----


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def family(row: pd.Series) -> str:
    """A decoder family: model (+adapter), decoder, and the block length where blocks are shorter than L."""
    name = row["model"] + (f"+{row['adapter']}" if row["adapter"] else "") + f" {row['decoder']}"
    block, length = row["block_length"], row["gen_length"]
    if block is not None and not pd.isna(block) and length is not None and block != length:
        name += f" b{block}"
    return name


def accuracy_nfe_plots(board: Leaderboard) -> dict[str, bytes]:
    """Per score column: score versus NFE per sample, one line per decoder family, one point per budget."""
    plots = {}
    table = board.runs[pd.to_numeric(board.runs["nfe_per_sample"], errors="coerce").notna()]
    for col in board.scores:
        data = table[table[col].notna()]
        if data.empty:
            continue
        fig = Figure(figsize=(6.4, 4.2), layout="constrained")
        ax = fig.add_subplot()
        for name, group in data.groupby(data.apply(family, axis=1), sort=True):
            group = group.sort_values("nfe_per_sample")
            ax.plot(group["nfe_per_sample"].astype(float), group[col].astype(float), marker="o", label=name)
            for _, r in group.iterrows():
                ax.annotate(f"L{r['gen_length']}/{r['steps']}", (float(r["nfe_per_sample"]), float(r[col])),
                            textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_xscale("log", base=2)
        ticks = sorted(set(data["nfe_per_sample"].astype(float)))
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("NFE per sample (forward passes)")
        ax.set_ylabel(f"{col} (%)")
        ax.set_title(f"{col} versus decoding budget")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        plots[f"nfe_{slug(col)}.png"] = png(fig)
    return plots


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
    for _, run in board.runs.iterrows():
        files = [Path(p) for p in (run["trace_files"] or ())]
        matrices = [(task_of(p), m) for p in files if (m := trace_matrix(p)) is not None]
        if not matrices:
            continue
        fig = Figure(figsize=(7.0, 2.4 * len(matrices) + 0.6), layout="constrained")
        for i, (task, (counts, eos_counts, n)) in enumerate(matrices):
            ax = fig.add_subplot(len(matrices), 1, i + 1)
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
        fig.suptitle(f"Decoding order: {run_label(run)}", fontsize=10)
        plots[f"order_{slug(run_label(run))}.png"] = png(fig)
    return plots


def task_of(samples_file: Path) -> str:
    """`samples_<task>_<date>.jsonl` -> task."""
    return samples_file.stem.removeprefix("samples_").rsplit("_", 1)[0]


def run_label(run: pd.Series) -> str:
    block = run["block_length"]
    model = run["model"] + (f"+{run['adapter']}" if run["adapter"] else "")
    label = f"{model} {run['decoder']} steps {run['steps']} L {run['gen_length']}"
    return label if block is None or pd.isna(block) else f"{label} block {block}"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_")


# ---- rendering ----


def fmt(col: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        if col == "seconds_per_sample":
            return f"{value:.3g}"
        if col == "nfe_per_sample" and float(value).is_integer():
            return str(int(value))
        return f"{value:.2f}"
    return str(value)


def display_rows(frame: pd.DataFrame, columns: list[str], marks: pd.DataFrame | None, bold: Callable[[str], str],
                 escape: Callable[[str], str]) -> list[list[str]]:
    rows = []
    for i, row in frame.iterrows():
        cells = []
        for col in columns:
            text = escape(fmt(col, row[col]))
            cells.append(bold(text) if marks is not None and col in marks and marks.at[i, col] else text)
        rows.append(cells)
    return rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header)] + [line(r) for r in rows])


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def sections(board: Leaderboard) -> list[tuple[str, list[str], pd.DataFrame, list[str], pd.DataFrame | None]]:
    """(title, header, frame, columns, best marks) of each table of the leaderboard."""
    run_cols = KEY + board.scores + COST
    marks = best_marks(board.runs, directions_of(board.scores, board.higher_is_better))
    cmp_cols = list(board.comparison.columns)
    ref_cols = REFERENCE_COLUMNS
    return [
        ("Runs", [HEADERS.get(c, c) for c in run_cols], board.runs, run_cols, marks),
        ("Against published numbers (same model and protocol; diff = ours - published)",
         [HEADERS.get(c, c) for c in cmp_cols], board.comparison, cmp_cols, None),
        ("Published numbers (results/reference/*.csv)", [HEADERS.get(c, c) for c in ref_cols], board.reference,
         ref_cols, None),
    ]


INTRO = ("Scores in percent (lm-eval value x 100); **bold** = best in its column (scores: highest; NFE and "
         "s/sample: lowest; tokens/forward: highest). NFE/sample = forward passes per sample; s/sample = wall time "
         "per sample. Cost is measured (manifest.json) or, for results without a manifest, computed from the decoder "
         "settings in model_args.")


def render_markdown(board: Leaderboard, plots: dict[str, bytes]) -> str:
    parts = ["# Leaderboard", "", f"{len(board.runs)} runs from {board.files} results files. {INTRO}", ""]
    for title, header, frame, cols, marks in sections(board):
        parts += [f"## {title}", ""]
        parts += [markdown_table(header, display_rows(frame, cols, marks, lambda s: f"**{s}**", str)) if len(frame)
                  else "(none)", ""]
    if plots:
        parts += ["## Plots", ""] + [f"![{name}]({PLOTS_DIR}/{name})" for name in plots] + [""]
    return "\n".join(parts)


def render_html(board: Leaderboard, plots: dict[str, bytes]) -> str:
    body = [f"<h1>Leaderboard</h1><p>{len(board.runs)} runs from {board.files} results files. "
            f"{html.escape(INTRO).replace('**bold**', '<b>bold</b>')}</p>"]
    for title, header, frame, cols, marks in sections(board):
        rows = display_rows(frame, cols, marks, lambda s: f"<b>{s}</b>", html.escape)
        body.append(f"<h2>{html.escape(title)}</h2>" + (html_table(header, rows) if len(frame) else "<p>(none)</p>"))
    if plots:
        body.append("<h2>Plots</h2>" + "".join(
            f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
            f"<figcaption>{html.escape(name)}</figcaption></figure>" for name, data in plots.items()))
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px;margin-bottom:1em}"
             "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}"
             "img{max-width:100%}figure{display:inline-block;margin:0.5em}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mdlm-eval leaderboard</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def csv_table(board: Leaderboard) -> pd.DataFrame:
    """The runs table with raw numbers, plus `best_in`: the columns where the row holds the best value."""
    marks = best_marks(board.runs, directions_of(board.scores, board.higher_is_better))
    table = board.runs.drop(columns=["trace_files"]).copy()
    table["best_in"] = [";".join(c for c in marks.columns if marks.at[i, c]) for i in marks.index]
    return table


def build_leaderboard(results_dir: str | Path, out_dir: str | Path, reference_dir: str | Path | None = REFERENCE_DIR,
                      warn: Warn = lambda message: None) -> list[Path]:
    """Read every results file under `results_dir`, write leaderboard.{md,csv,html} and PNG plots to `out_dir`.

    Returns the paths written. Raises UsageError for a missing or empty folder.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    board = build_tables(results_dir, Path(reference_dir) if reference_dir else None, warn)
    plots = {**accuracy_nfe_plots(board), **heatmaps(board)}
    plot_dir = out_dir / PLOTS_DIR
    plot_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in plots.items():
        write_atomic(plot_dir / name, data)
        written.append(plot_dir / name)
    for stale in set(plot_dir.glob("*.png")) - set(written):
        stale.unlink()
    outputs = {
        "leaderboard.md": render_markdown(board, plots),
        "leaderboard.csv": csv_table(board).to_csv(index=False),
        "leaderboard.html": render_html(board, plots),
    }
    for name, text in outputs.items():
        write_atomic(out_dir / name, text)
        written.append(out_dir / name)
    return written
