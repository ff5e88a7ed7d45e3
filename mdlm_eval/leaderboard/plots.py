"""The leaderboard's plots: score against NFE per sample per task metric, and decoding-order heatmaps."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from mdlm_eval.leaderboard.read import block_of
from mdlm_eval.leaderboard.tables import (BUDGET_FIELDS, HEADERS, Z95, Leaderboard, family, fmt_value, is_base_adapter,
                                          is_uncached, paired, pairs, slug, spec_column, varies)
from mdlm_eval.paired import Paired

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


MAX_SERIES = 8  # series per plot; a facet with more is split


@dataclass
class Facet:
    """One plot of a task metric: what a paper compares (decoder families, cached vs uncached, checkpoint vs base),
    its runs, and for a comparison against a base (`col`, `base`) the paired differences to draw under it."""

    title: str
    runs: list[int]
    col: str | None = None
    base: Callable[[Any], bool] | None = None


def chunks(board: Leaderboard, runs: pd.DataFrame, title: str, col: str | None = None,
           base: Callable[[Any], bool] | None = None) -> list[Facet]:
    """`runs` as facets of at most MAX_SERIES series each (a series: `family`), numbered when split."""
    series: dict[tuple, list[int]] = {}
    for i in runs.index:
        series.setdefault(family(board, runs, i), []).append(i)
    names = sorted(series, key=str)
    parts = [names[k: k + MAX_SERIES] for k in range(0, len(names), MAX_SERIES)]
    return [Facet(title + (f" ({k + 1}/{len(parts)})" if len(parts) > 1 else ""),
                  sorted(i for name in part for i in series[name]), col, base) for k, part in enumerate(parts)]


def facets(board: Leaderboard, runs: pd.DataFrame, n: dict[int, Any] | None = None) -> list[Facet]:
    """The plots of one task metric: the base model's uncached decoders under the default template on the most
    documents (`n`: the sample count by run), fixed-step then adaptive (commit rule); cached against uncached; each
    checkpoint against its base model; settings under several prompt templates. Each at most MAX_SERIES series."""
    cache = spec_column("cache")
    uncached = runs[cache].map(is_uncached) if cache in runs else pd.Series(True, index=runs.index)
    counts = pd.Series([(n or {}).get(i) for i in runs.index], index=runs.index, dtype=float)
    most = counts.isna() | (counts == counts.max()) if counts.notna().any() else counts.isna()
    plain = runs[runs["adapter"].map(is_base_adapter) & uncached & (runs["template"] == "default") & most]
    commit = plain["commit"] if "commit" in plain else pd.Series(None, index=plain.index)
    found = []
    for title, members in (("fixed-step decoders", plain[commit.map(lambda c: c in (None, "count"))]),
                           ("adaptive decoders", plain[commit.map(lambda c: c not in (None, "count"))])):
        if not members.empty:
            found += chunks(board, members, title)
    for col, is_base, title in ((cache, is_uncached, "cached against uncached"),
                                ("adapter", is_base_adapter, "checkpoints against the base model")):
        if col not in runs:
            continue
        involved = sorted({i for pair in pairs(board, col, is_base) for i in pair} & set(runs.index))
        if len(involved) > 1:
            found += chunks(board, runs.loc[involved], title, col, is_base)
    involved = runs[runs["template"] != "default"]  # settings run under other templates, with their default
    if not involved.empty:
        others = [c for c in board.identity if c != "template"]
        keys = {repr([r[c] for c in others]) for _, r in involved.iterrows()}
        members = runs[[repr([r[c] for c in others]) in keys for _, r in runs.iterrows()]]
        found += chunks(board, members, "prompt templates")
    return found or chunks(board, runs, "all settings")


def score_plot(board: Leaderboard, task: str, metric: str, facet: Facet | None = None) -> bytes | None:
    """Score (± 95% interval) against NFE per sample: a series per setting, a point per budget, labelled at its
    right end; published points of the same protocol as stars. For a comparison facet, a panel below with each
    run's paired difference to its base run (95% paired bootstrap interval) at the same budget."""
    scores = board.scores[(board.scores["task"] == task) & (board.scores["metric"] == metric)]
    runs = board.runs.loc[sorted(set(scores["run"]) & set(facet.runs if facet else scores["run"]))]
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
    diffs = paired_points(board, runs, task, metric, facet) if facet and facet.col else {}
    fig = Figure(figsize=(3.9, 4.6 if diffs else 3.3), layout="constrained")
    ax, below = (fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 1]) if diffs else (fig.add_subplot(), None))
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
        if below is not None:
            points = sorted((float(runs.at[i, "nfe_per_sample"]), diffs[i]) for i in members if i in diffs)
            if points:
                px = np.array([x for x, _ in points]) * dodge ** (k - (len(series) - 1) / 2)
                d = np.array([p.diff for _, p in points])
                yerr = np.array([[p.diff - p.low for _, p in points], [p.high - p.diff for _, p in points]])
                below.errorbar(px, d, yerr=yerr, color=color, marker=MARKERS[k % len(MARKERS)], linestyle="none",
                               markersize=4, capsize=2, elinewidth=0.8)
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
    (below or ax).set_xlabel("NFE per sample (forward passes, log scale)")
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title(f"{task} {metric}: {facet.title if facet else 'score against forward passes'}", fontsize=9)
    if below is not None:
        below.axhline(0, color="gray", linewidth=0.8)
        below.set_ylabel("paired diff (points)", fontsize=7)
        below.set_title(f"against the {'uncached run' if facet.base is is_uncached else 'base model'} at the same "
                        f"budget (95% paired interval)", fontsize=7)
        below.grid(alpha=0.3)
    if not board.comparison.empty and board.comparison["run"].isin(runs.index).any():
        ax.scatter([], [], marker="*", facecolors="none", edgecolors="gray", label="published (same protocol)")
        ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return png(fig, [*notes, *ax.get_children()])


def paired_points(board: Leaderboard, runs: pd.DataFrame, task: str, metric: str, facet: Facet) -> dict[int, Paired]:
    """Each non-base run of a comparison facet: its paired difference to its base run (where both have
    per-document scores)."""
    found = {}
    for run, base in pairs(board, facet.col, facet.base):
        if run in runs.index and (pair := paired(board, run, base, task, metric)) is not None:
            found[run] = pair
    return found


FACET_SEP = "__"  # nfe_<task>_<metric>__<k>_<facet>.png: the page groups a task metric's facets by the part before


def accuracy_nfe_plots(board: Leaderboard) -> dict[str, bytes]:
    """Per task metric (groups left out) and facet: score versus NFE per sample."""
    plots = {}
    tasks = board.scores[~board.scores["group"]]
    for task, metric in dict.fromkeys(zip(tasks["task"], tasks["metric"])):
        scores = tasks[(tasks["task"] == task) & (tasks["metric"] == metric)]
        runs = board.runs.loc[sorted(set(scores["run"]))]
        for k, facet in enumerate(facets(board, runs, dict(zip(scores["run"], scores["n"])))):
            image = score_plot(board, task, metric, facet)
            if image is not None:
                plots[f"nfe_{slug(f'{task}/{metric}')}{FACET_SEP}{k}_{slug(facet.title)}.png"] = image
    return dict(sorted(plots.items(), key=lambda kv: (kv[0].split(FACET_SEP)[0], int(kv[0].split(FACET_SEP)[1]
                                                                                       .split("_")[0]))))


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
