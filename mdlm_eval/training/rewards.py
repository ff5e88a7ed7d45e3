"""Rewards of the GRPO trainers: `reward(doc, text) -> float`, summed over the run's reward list.

Every reward d1 trains with (`diffu-grpo/reward_func.py`) is re-stated exactly:
- `d1_countdown` = `countdown_reward_func` (`compute_score`): the last `<answer>...</answer>` block is the
  equation; 0 without one, 0.1 (format score) when its integers are not the given numbers or it does not
  evaluate to the target (characters limited to digits, + - * / ( ) . and spaces), 1 when it does.
- `d1_sudoku` = `sudoku_reward_func`: the digits of the last `<answer>` block, padded with 0 / cut to 16; the share
  of the puzzle's empty cells filled correctly.
- `countdown_boxed`: `d1_countdown` with the box in place of the `<answer>` block, for the toy, which answers in
  `\\boxed{}` (`configs/toy.yaml` names it): 0 without a box, else the task scorer's `extract_expression`
  (d1's evaluation reader) gives the equation, scored as above.
- GSM8K (d1 sums five, in this order): `d1_xmlcount` (`xmlcount_reward_func`: 0.125 for each of the four tags
  written once with its newlines, less 0.001 a character after the closing tag), `d1_soft_format` and
  `d1_strict_format` (0.5 when the text matches d1's regex; neither lets `.` cross a newline, so a reasoning of
  several lines gets 0), `d1_int` (0.5 when the answer block is all digits) and `d1_correctness` (2.0 when the
  answer block equals the text after the gold solution's `####`, as strings). d1's answer block is
  `text.split("<answer>")[-1].split("</answer>")[0].strip()`: without tags, the whole text.
- MATH (d1 sums two): `d1_correctness_math` (2.0 when d1's last-box reader gives an answer Hendrycks-equivalent
  to the gold solution's last box; an unclosed box makes the whole text the answer) and
  `d1_boxed_and_answer_tags` (0.5 x `boxed_in_answer`: 1 for an `<answer>` tag, plus 1 if the block holds
  "\\boxed" written with Python's `"\\b"` escape, i.e. a backspace and "oxed", which no model writes, else 0.5:
  so 0.75 with an answer tag and 0.25 without, whatever the box).
The d1 rewards see the completion as d1's trainers decode it for rewards (`skip_special_tokens=True`); every
other reward sees the canvas as evaluation does, special tokens included (`PLAIN_TEXT`).
The task scorers of `mdlm_eval.scoring` are rewards too: `acc` (d1's evaluation score; Sudoku: correct empty
cells / empty cells) and `exact` (Countdown `acc_exact`, Sudoku `solved`).
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
from mdlm_eval.scoring.boxes import d1_boxed_answer
from mdlm_eval.scoring.hendrycks import d1_math_equiv

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


# ---- d1's GSM8K rewards (diffu-grpo/reward_func.py) ----
_STRICT = re.compile(r"^<reasoning>\n.*?\n</reasoning>\n<answer>\n.*?\n</answer>\n$")
_SOFT = re.compile(r"<reasoning>.*?</reasoning>\s*<answer>.*?</answer>")


def _xml_answer(text: str) -> str:
    """d1's `extract_xml_answer`: after the last `<answer>`, before the next `</answer>`, stripped."""
    return text.split("<answer>")[-1].split("</answer>")[0].strip()


def d1_xmlcount(doc: dict, text: str) -> float:
    """d1's `count_xml`, its operations in its order (so the float is d1's to the bit)."""
    count = 0.0
    if text.count("<reasoning>\n") == 1:
        count += 0.125
    if text.count("\n</reasoning>\n") == 1:
        count += 0.125
    if text.count("\n<answer>\n") == 1:
        count += 0.125
        count -= len(text.split("\n</answer>\n")[-1]) * 0.001
    if text.count("\n</answer>") == 1:
        count += 0.125
        count -= (len(text.split("\n</answer>")[-1]) - 1) * 0.001
    return count


def d1_soft_format(doc: dict, text: str) -> float:
    return 0.5 if _SOFT.match(text) else 0.0


def d1_strict_format(doc: dict, text: str) -> float:
    return 0.5 if _STRICT.match(text) else 0.0


def d1_int(doc: dict, text: str) -> float:
    return 0.5 if _xml_answer(text).isdigit() else 0.0


def d1_correctness(doc: dict, text: str) -> float:
    """2.0 when the answer block equals d1's `extract_hash_answer` of the solution (`split("####")[1].strip()`)."""
    solution = doc["solution"]
    gold = solution.split("####")[1].strip() if "####" in solution else None
    return 2.0 if _xml_answer(text) == gold else 0.0


# ---- d1's MATH rewards ----
def d1_correctness_math(doc: dict, text: str) -> float:
    """2.0 when d1's box reader on the text (the whole text where a box is unclosed) is Hendrycks-equivalent to
    the box of the gold solution (`remove_boxed(last_boxed_only_string(.))`, d1's `is_equiv`). A gold solution
    whose last box is unclosed scores 0 (d1 raises there)."""
    answer, gold = d1_boxed_answer(text), d1_boxed_answer(doc["solution"])
    if answer is None:  # d1: remove_boxed(None) raises inside a try, and the response stays as it was
        answer = text
    return 2.0 if gold is not None and d1_math_equiv(answer, gold) else 0.0


def d1_boxed_and_answer_tags(doc: dict, text: str) -> float:
    """0.5 x d1's `boxed_in_answer`: + 1 for an `<answer>` tag (then only its block is searched), + 1 if the
    block holds d1's `"\\boxed"` literal (a backspace, then "oxed"), else + 0.5."""
    reward = 0.0
    if "<answer>" in text:
        text = text.split("<answer>")[1].split("</answer>")[0]
        reward += 1.0
    reward += 1.0 if "\x08oxed" in text else 0.5  # d1 writes "\boxed": "\b" is a backspace
    return reward * 0.5


def _sudoku_acc(doc: dict, text: str) -> float:
    correct, empty = sudoku.acc(doc, text)
    return correct / empty if empty else 0.0


REWARDS: dict[str, dict[str, Reward]] = {
    "countdown": {"acc": countdown.acc, "exact": countdown.acc_exact, "d1_countdown": d1_countdown,
                  "countdown_boxed": countdown_boxed},
    "sudoku": {"acc": _sudoku_acc, "exact": sudoku.solved, "d1_sudoku": d1_sudoku},
    "gsm8k": {"acc": gsm8k.acc, "exact": gsm8k.acc, "d1_xmlcount": d1_xmlcount, "d1_soft_format": d1_soft_format,
              "d1_strict_format": d1_strict_format, "d1_int": d1_int, "d1_correctness": d1_correctness},
    "math": {"acc": math500.acc, "exact": math500.acc, "d1_correctness_math": d1_correctness_math,
             "d1_boxed_and_answer_tags": d1_boxed_and_answer_tags},
}
"""Task kind -> reward name -> reward."""

PLAIN_TEXT = frozenset({d1_countdown, d1_sudoku, d1_xmlcount, d1_soft_format, d1_strict_format, d1_int,
                        d1_correctness, d1_correctness_math, d1_boxed_and_answer_tags})
"""The rewards that read the completion decoded without special tokens, as d1's trainer hands it to them."""


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
