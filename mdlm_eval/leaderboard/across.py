"""Decoders across prompt templates: each setting's score under every template it ran with, its mean and spread,
and every pair of settings whose order differs between two templates (a ranking flip)."""
from __future__ import annotations

from itertools import combinations

import pandas as pd

from mdlm_eval.leaderboard.tables import Cell, Leaderboard, Table, paired, shown_columns, slug


def template_groups(board: Leaderboard, runs: pd.DataFrame) -> dict[str, dict[str, int]]:
    """{setting label: {template: run}} for settings (identity less the template) run under two or more templates."""
    others = [c for c in board.identity if c != "template"]
    cols = [c for c in shown_columns(board, runs) if c != "template"]
    groups: dict[str, dict[str, int]] = {}
    labels: dict[str, str] = {}
    for i, run in runs.iterrows():
        key = repr([run[c] for c in others])
        labels.setdefault(key, " ".join(f"{'' if c == 'decoder' else c + '='}{run[c]}" for c in cols
                                        if run[c] not in (None, "")))
        groups.setdefault(labels[key], {})[run["template"]] = i
    return {label: by for label, by in groups.items() if len(by) > 1}


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


def template_tables(board: Leaderboard) -> list[Table]:
    tasks = board.scores[~board.scores["group"]]
    found = [template_table(board, task, metric) for task, metric in dict.fromkeys(zip(tasks["task"], tasks["metric"]))]
    return [t for t in found if t is not None]
