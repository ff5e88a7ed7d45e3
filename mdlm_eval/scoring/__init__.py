"""Scorers of the d1 reasoning tasks: one pure module per task.

Each task module has `doc_to_text`, d1's paper-compatible `acc` (identical item for item to
dllm-reasoning/d1 eval/parse_and_get_acc.py), one robust metric, and lm-eval's `process_results`.
"""
from __future__ import annotations

from types import ModuleType

from mdlm_eval.scoring import countdown, gsm8k, math500, sudoku

TASKS: dict[str, ModuleType] = {"gsm8k": gsm8k, "math500": math500, "countdown": countdown, "sudoku": sudoku}
"""Task name -> scoring module."""

ROBUST_METRIC = {
    "gsm8k": "acc_math_verify",
    "math500": "acc_math_verify",
    "countdown": "acc_exact",
    "sudoku": "solved",
}
"""Task name -> the name of its robust metric in `process_results`."""


def task_from_name(name: str) -> str | None:
    """The task a setup or file name belongs to, as d1 infers it: the first of gsm, math, countdown,
    sudoku that the name contains (eval/parse_and_get_acc.py, `aggregate_results`)."""
    for key, task in (("gsm", "gsm8k"), ("math", "math500"), ("countdown", "countdown"), ("sudoku", "sudoku")):
        if key in name:
            return task
    return None
