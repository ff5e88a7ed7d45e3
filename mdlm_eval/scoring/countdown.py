r"""Countdown (cd3): the d1 prompt, d1's score (`acc`) and the exact score (`acc_exact`).

Docs: `numbers` (list[int], three), `target` (int), `question` ("Numbers: [a, b, c]\nTarget: t").
"""
from __future__ import annotations

import re
from collections import Counter

from mdlm_eval.scoring import prompts
from mdlm_eval.scoring.arithmetic import Unevaluable, evaluate_exact, evaluate_python
from mdlm_eval.scoring.boxes import d1_answer_block, d1_boxed_answer, final_answer

_D1_LATEX_OPERATORS = (("\\div", "/"), ("\\times", "*"), ("\\cdot", "*"))
_D1_EXPRESSION_RUN = re.compile(r"[0-9+\-*/() ]+")
_D1_AFTER_EQUALS = frozenset("0123456789. ")
_D1_ALLOWED = re.compile(r"[\d+\-*/().\s]+")
_D1_INTEGERS = re.compile(r"\d+")
_D1_TOLERANCE = 1e-5

_OPERATORS = {
    "\\div": "/", "\\times": "*", "\\cdot": "*", "\\left": "", "\\right": "",
    "÷": "/", "×": "*", "·": "*", "⋅": "*", "−": "-", "$": "",
}  # fmt: skip


def doc_to_text(doc: dict) -> str:
    """The d1 user message for a Countdown doc."""
    return prompts.user_message(prompts.COUNTDOWN, doc["question"])


def extract_expression(text: str) -> str:
    r"""d1's Countdown reader (eval/parse_and_get_acc.py, `parse_countdown_answers`).

    The last box as `boxes.d1_boxed_answer` reads it (the whole text when there is no box); if the last
    box is unclosed, the first `<answer>` block, else the whole text. Then `\div \times \cdot` become
    `/ * *`, and the first `expression = number` found is cut to its expression.
    """
    expression = d1_boxed_answer(text)
    if expression is None:
        block = d1_answer_block(text)
        expression = text if block is None else block
    for latex, python in _D1_LATEX_OPERATORS:
        expression = expression.replace(latex, python)
    return _d1_cut_at_equals(expression)


def _d1_cut_at_equals(expression: str) -> str:
    r"""d1's `re.search(r"([0-9+\-*/() ]+)=[0-9. ]+", s)` cut, in linear time: the first maximal run of
    `0-9+-*/() ` followed by `=` and one of `0-9. ` replaces the whole string, stripped."""
    for run in _D1_EXPRESSION_RUN.finditer(expression):
        equals, after = expression[run.end() : run.end() + 1], expression[run.end() + 1 : run.end() + 2]
        if equals == "=" and after in _D1_AFTER_EQUALS:
            return run.group().strip()
    return expression


def acc(doc: dict, text: str) -> int:
    r"""d1's score: the expression's integers (every `\d+` run) sorted equal the given numbers sorted, it
    is made only of digits, `+-*/().` and whitespace, and its value with Python's arithmetic is within
    1e-5 of the target (so `**`, `//` and float rounding count as d1 counts them). Evaluated by
    arithmetic.evaluate_python, never `eval`.
    """
    expression = extract_expression(text)
    if not _d1_uses_numbers(expression, doc["numbers"]) or not _D1_ALLOWED.fullmatch(expression):
        return 0
    try:
        value = evaluate_python(expression)
    except Unevaluable:
        return 0
    return int(abs(value - doc["target"]) < _D1_TOLERANCE)


def _d1_uses_numbers(expression: str, numbers: list[int]) -> bool:
    """d1's check: the integers of the expression (`\\d+` runs, Unicode digits too), sorted, are the numbers."""
    try:
        return sorted(int(n) for n in _D1_INTEGERS.findall(expression)) == sorted(numbers)
    except ValueError:  # a digit run too long for int(): d1 rejects it the same way
        return False


def acc_exact(doc: dict, text: str) -> int:
    r"""Robust score: the final answer (boxes.final_answer; the left side if it contains `=`) is an
    expression over integer literals with + - * / ** and parentheses, uses each given number exactly
    once, and equals the target exactly in rational arithmetic. LaTeX and Unicode operators are mapped.
    """
    answer = final_answer(text)
    if answer is None:
        return 0
    expression = answer.split("=")[0]
    for written, python in _OPERATORS.items():
        expression = expression.replace(written, python)
    try:
        value, used = evaluate_exact(expression)
    except Unevaluable:
        return 0
    return int(Counter(used) == Counter(doc["numbers"]) and value == doc["target"])


def process_results(doc: dict, results: list[str]) -> dict[str, int]:
    """lm-eval hook: both scores of the one generation."""
    text = results[0]
    return {"acc": acc(doc, text), "acc_exact": acc_exact(doc, text)}
