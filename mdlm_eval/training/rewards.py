"""Rewards of the GRPO trainers: `reward(doc, text) -> float`, summed over the run's reward list.

Of d1's `diffu-grpo/reward_func.py`, the two planning rewards are re-stated exactly:
- `d1_countdown` = `countdown_reward_func` (`compute_score`): the last `<answer>...</answer>` block is the
  equation; 0 without one, 0.1 (format score) when its integers are not the given numbers or it does not
  evaluate to the target (characters limited to digits, + - * / ( ) . and spaces), 1 when it does.
- `d1_sudoku` = `sudoku_reward_func`: the digits of the last `<answer>` block, padded with 0 / cut to 16; the share
  of the puzzle's empty cells filled correctly.
- `countdown_boxed`: `d1_countdown` with the box in place of the `<answer>` block, for the toy, which answers in
  `\\boxed{}` (`configs/toy.yaml` names it): 0 without a box, else the task scorer's `extract_expression`
  (d1's evaluation reader) gives the equation, scored as above.
The task scorers of `mdlm_eval.scoring` are rewards too: `acc` (d1's evaluation score; Sudoku: correct empty
cells / empty cells) and `exact` (Countdown `acc_exact`, Sudoku `solved`). d1's GSM8K/MATH format rewards
(xmlcount, soft/strict format, int, boxed-in-answer) are not re-stated: `d1_gsm8k` and `d1_math` train on the
evaluation score `acc` alone (d1's GSM8K/MATH reader on the task's answer), which is d1's correctness reward
without its format terms.
A custom reward is `package.module:function` with the same signature.
"""
from __future__ import annotations

import importlib
import math
import numbers
import re
from typing import Callable

from mdlm_eval.errors import UsageError
from mdlm_eval.scoring import countdown, gsm8k, math500, sudoku
from mdlm_eval.scoring.arithmetic import Unevaluable, evaluate_python

Reward = Callable[[dict, str], float]

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_ALLOWED = re.compile(r"[\d+\-*/().\s]+")


def _d1_equation_score(equation: str | None, doc: dict) -> float:
    """d1's `compute_score` given the extracted equation (format score 0.1, score 1.0)."""
    if equation is None:
        return 0.0
    if sorted(int(n) for n in re.findall(r"\d+", equation)) != sorted(doc["numbers"]):
        return 0.1
    if not _ALLOWED.fullmatch(equation):
        return 0.1
    try:
        value = evaluate_python(equation)
    except Unevaluable:
        return 0.1
    return 1.0 if abs(value - doc["target"]) < 1e-5 else 0.1


def d1_countdown(doc: dict, text: str) -> float:
    matches = _ANSWER.findall(text)
    return _d1_equation_score(matches[-1].strip() if matches else None, doc)


def countdown_boxed(doc: dict, text: str) -> float:
    if "\\boxed" not in text:
        return 0.0
    return _d1_equation_score(countdown.extract_expression(text).strip(), doc)


def d1_sudoku(doc: dict, text: str) -> float:
    matches = _ANSWER.findall(text)
    if not matches:
        return 0.0
    grid = "".join(c for c in matches[-1].strip() if c.isdigit())
    if not grid:
        return 0.0
    grid = (grid + "0" * 16)[:16]
    empty = [i for i in range(16) if doc["puzzle"][i] == "0"]
    return sum(grid[i] == doc["solution"][i] for i in empty) / len(empty) if empty else 0.0


def _sudoku_acc(doc: dict, text: str) -> float:
    correct, empty = sudoku.acc(doc, text)
    return correct / empty if empty else 0.0


REWARDS: dict[str, dict[str, Reward]] = {
    "countdown": {"acc": countdown.acc, "exact": countdown.acc_exact, "d1_countdown": d1_countdown,
                  "countdown_boxed": countdown_boxed},
    "sudoku": {"acc": _sudoku_acc, "exact": sudoku.solved, "d1_sudoku": d1_sudoku},
    "gsm8k": {"acc": gsm8k.acc, "exact": gsm8k.acc},
    "math": {"acc": math500.acc, "exact": math500.acc},
}
"""Task kind -> reward name -> reward."""


def resolve_reward(name: str, kind: str) -> Reward:
    """The reward called `name` for a task of `kind`; `module:function` imports a custom one."""
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise UsageError(f"reward {name} cannot be imported: {e}") from None
        if not callable(fn):
            raise UsageError(f"reward {name} is not a function")
        return fn
    known = REWARDS[kind]
    if name not in known:
        raise UsageError(f"reward '{name}' is unknown for {kind} tasks; choose one of {', '.join(known)} "
                         f"or give module:function")
    return known[name]


def as_number(value, name: str) -> float:
    """A reward's value as a float; UsageError naming the reward if it is not a finite real number."""
    if isinstance(value, (list, tuple)) or (hasattr(value, "__len__") and hasattr(value, "shape")):
        raise UsageError(f"reward {name} returned {len(value)} values for one completion; a reward scores one "
                         f"completion: (doc, text) -> float")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise UsageError(f"reward {name} returned {value!r}, not a finite number")
    return float(value)
