"""Settings across one field of their identity: across prompt templates, each setting's score under every template
it ran with, its mean and spread, and every pair of settings whose order differs between two templates (a ranking
flip); across a decoder's knob, the accuracy under parallelism (AUP) of the sweep."""
from __future__ import annotations

from itertools import combinations
from typing import Any, Callable

import pandas as pd

from mdlm_eval.leaderboard.tables import (BUDGET_FIELDS, Cell, Leaderboard, Table, fmt_value, paired, shown_columns,
                                          slug)
from mdlm_eval.parallelism import aup

SWEPT_KNOBS = ("steps", *BUDGET_FIELDS)  # a decoder's knobs whose sweep trades accuracy for parallelism


def groups_over(board: Leaderboard, runs: pd.DataFrame, col: str) -> dict[str, dict[Any, int]]:
    """{setting label: {value of `col`: run}} for the runs grouped by their identity less `col`."""
    others = [c for c in board.identity if c != col]
    cols = [c for c in shown_columns(board, runs) if c != col]
    groups: dict[str, dict[Any, int]] = {}
    labels: dict[str, str] = {}
    for i, run in runs.iterrows():
        key = repr([run[c] for c in others])
        labels.setdefault(key, " ".join(f"{'' if c == 'decoder' else c + '='}{run[c]}" for c in cols
                                        if run[c] not in (None, "")))
        groups.setdefault(labels[key], {})[run[col]] = i
    return groups


def template_groups(board: Leaderboard, runs: pd.DataFrame) -> dict[str, dict[str, int]]:
    """{setting label: {template: run}} for settings (identity less the template) run under two or more templates."""
    return {label: by for label, by in groups_over(board, runs, "template").items() if len(by) > 1}


def flips(groups: dict[str, dict[str, int]], value: dict[int, float]) -> list[tuple[str, str, str, str]]:
    """(setting A, setting B, template where A leads, template where B leads) for every pair of settings whose
    order differs between two templates both ran (ties are no order)."""
    found = []
    for a, b in combinations(sorted(groups), 2):
        shared = [t for t in groups[a] if t in groups[b]]
        diffs = {t: value[groups[a][t]] - value[groups[b][t]] for t in shared}
        ahead = [t for t, d in diffs.items() if d > 0]
        behind = [t for t, d in diffs.items() if d < 0]
        if ahead and behind:
            found.append((a, b, ahead[0], behind[0]))
    return found


def template_table(board: Leaderboard, task: str, metric: str) -> Table | None:
    """One task metric: a row per setting with its score under each template, mean, spread (max - min) and the
    number of other settings it changes places with; the flips in the caption."""
    scores = board.scores[(board.scores["task"] == task) & (board.scores["metric"] == metric)]
    runs = board.runs.loc[sorted(set(scores["run"]))]
    groups = template_groups(board, runs)
    if not groups:
        return None
    value = dict(zip(scores["run"], scores["value"].astype(float)))
    templates = sorted({t for by in groups.values() for t in by}, key=lambda t: (t != "default", t))
    swapped = flips(groups, value)
    rows = []
    for label, by in sorted(groups.items(), key=lambda kv: -value[kv[1].get("default", next(iter(kv[1].values())))]):
        values = [value[r] for r in by.values()]
        count = sum(label in (a, b) for a, b, _, _ in swapped)
        rows.append([Cell(label)] + [Cell(f"{value[by[t]]:.2f}", value[by[t]]) if t in by else Cell("")
                                     for t in templates]
                    + [Cell(f"{sum(values) / len(values):.2f}", sum(values) / len(values)),
                       Cell(f"{max(values) - min(values):.2f}", max(values) - min(values)), Cell(str(count), count)])
    lines = []
    for a, b, lead, trail in swapped:
        notes = []
        for t in (lead, trail):
            pair = paired(board, groups[a][t], groups[b][t], task, metric)
            notes.append(f"{t}: {a} - {b} = " + (pair.text() if pair else f"{value[groups[a][t]] - value[groups[b][t]]:+.2f}"))
        lines.append(f"{a} / {b} ({'; '.join(notes)})")
    caption = ("Score (percent) under each prompt template; mean and spread (max - min) over templates; flips = the "
               "number of other settings whose order with this one differs between templates. "
               + (f"Ranking flips ({len(swapped)}; paired difference [95% CI], * = excludes zero): "
                  + " | ".join(lines) if swapped else "No ranking flips between templates."))
    return Table(f"{task}/{metric} across prompt templates", caption,
                 ["setting"] + templates + ["mean", "spread", "flips"], rows,
                 anchor=f"templates-{slug(task)}-{slug(metric)}")


def per_metric(board: Leaderboard, table_of: Callable[[Leaderboard, str, str], Table | None]) -> list[Table]:
    """`table_of` each task metric (not lm-eval groups), where it makes a table."""
    tasks = board.scores[~board.scores["group"]]
    found = [table_of(board, task, metric) for task, metric in dict.fromkeys(zip(tasks["task"], tasks["metric"]))]
    return [t for t in found if t is not None]


def template_tables(board: Leaderboard) -> list[Table]:
    return per_metric(board, template_table)


def knob_sweeps(board: Leaderboard, runs: pd.DataFrame) -> list[tuple[str, str, dict[Any, int]]]:
    """(setting label, knob, {knob value: run}) for each group of runs that differ only in one of SWEPT_KNOBS, with
    at least two runs that recorded a TPF (`tpf` in the manifest); runs without one are left out."""
    measured = runs[[isinstance(tpf, (int, float)) and tpf > 0 for tpf in runs["tpf"]]]
    sweeps = []
    for knob in (k for k in SWEPT_KNOBS if k in measured):
        for label, by in groups_over(board, measured, knob).items():
            if len({v for v in by if v is not None}) > 1:
                sweeps.append((label, knob, by))
    return sweeps


def aup_table(board: Leaderboard, task: str, metric: str) -> Table | None:
    """One task metric: a row per knob sweep with its number of (TPF, score) points, TPF range and AUP
    (`parallelism.aup`, d3LLM: arXiv 2601.07568), y_max the best score of all the sweeps' points."""
    scores = board.scores[(board.scores["task"] == task) & (board.scores["metric"] == metric)]
    if scores.empty or not scores["higher"].iloc[0]:
        return None
    runs = board.runs.loc[sorted(set(scores["run"]))]
    sweeps = knob_sweeps(board, runs)
    if not sweeps:
        return None
    value = dict(zip(scores["run"], scores["value"].astype(float)))
    y_max = max(value[r] for _, _, by in sweeps for r in by.values())
    rows = []
    for label, knob, by in sweeps:
        tpf = [float(board.runs.at[r, "tpf"]) for r in by.values()]
        area = aup(tpf, [value[r] for r in by.values()], y_max=y_max) if y_max > 0 else 0.0
        values = ", ".join(fmt_value(v) for _, v in sorted(zip(tpf, by), key=lambda point: point[0]))
        rows.append([Cell(label), Cell(knob), Cell(values), Cell(str(len(by)), len(by)),
                     Cell(f"{min(tpf):.2f} - {max(tpf):.2f}", min(tpf)), Cell(f"{area:.2f}", area)])
    rows.sort(key=lambda r: -r[-1].sort)
    caption = (f"Each decoder swept over one knob (runs that differ only in it and recorded a TPF, tokens through "
               f"the first EOS per forward pass): its (TPF, score in percent) points, knob values in TPF order, and "
               f"its AUP (see Columns) with y_max = {y_max:.2f}, the best score of all these sweeps' points.")
    return Table(f"{task}/{metric} accuracy under parallelism (AUP)", caption,
                 ["setting", "knob", "values", "points", "TPF range", "AUP"], rows,
                 anchor=f"aup-{slug(task)}-{slug(metric)}")


def aup_tables(board: Leaderboard) -> list[Table]:
    return per_metric(board, aup_table)
