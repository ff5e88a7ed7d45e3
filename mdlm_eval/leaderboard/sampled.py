"""Sampled mean and pass@k of a run that drew several generations per prompt (lm-eval `repeats`).

A samples file row holds every generation of its document in `resps[0]`; lm-eval scores only the first (its
`take_first` filter). Here each generation is scored alone with the task's own `process_results`
(mdlm_eval.scoring, found from the task name as d1 infers it), and for every metric that is 0 or 1 on every
generation: sampled mean = mean over documents of c / n, and pass@k = mean over documents of the unbiased
1 - C(n - c, k) / C(n, k) (mdlm_eval.passk), with n the document's generations and c the correct ones.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mdlm_eval.errors import UsageError
from mdlm_eval.passk import pass_at_k


@dataclass(frozen=True)
class Sampled:
    """One metric of one run's task over its repeated generations (percent)."""

    sampled_mean: float
    pass_at_k: float
    k: int
    generations: int  # the fewest generations of any document (pass@k needs k <= it)
    docs: int


def generations(samples_file: str | Path) -> list[tuple[dict, list[str]]]:
    """(doc, its generations) per document of a samples file (the first filter's row of each document)."""
    seen, out = set(), []
    with open(samples_file, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            key = row.get("doc_hash") or row.get("doc_id")
            resps = row.get("resps") or []
            if key in seen or "doc" not in row or not resps or not isinstance(resps[0], list):
                continue
            seen.add(key)
            out.append((row["doc"], [str(r) for r in resps[0]]))
    return out


@lru_cache(maxsize=512)
def sampled_scores(samples_file: str, task: str, k: int | None = None) -> dict[str, Sampled]:
    """metric -> Sampled for a task's samples file where every document has >= 2 generations, else {}.
    `k` defaults to the fewest generations of any document; a k above it is a UsageError."""
    from mdlm_eval.scoring import TASKS, task_from_name

    kind = task_from_name(task)
    items = generations(samples_file)
    if kind is None or not items or min(len(g) for _, g in items) < 2:
        return {}
    n_min = min(len(g) for _, g in items)
    k = n_min if k is None else k
    if not 1 <= k <= n_min:
        raise UsageError(f"pass@{k} asks for more generations than the {n_min} of some document of {task}")
    process = TASKS[kind].process_results
    per_doc = [[process(doc, [text]) for text in gens] for doc, gens in items]
    out = {}
    for metric in per_doc[0][0]:
        values = [[r.get(metric) for r in doc] for doc in per_doc]
        if not all(isinstance(v, (bool, int, float)) and v in (0, 1) for doc in values for v in doc):
            continue  # not a per-generation success (e.g. Sudoku's cell counts)
        correct = [(len(doc), sum(int(v) for v in doc)) for doc in values]
        out[metric] = Sampled(100.0 * sum(c / n for n, c in correct) / len(correct),
                              100.0 * sum(pass_at_k(n, c, k) for n, c in correct) / len(correct), k, n_min, len(correct))
    return out
