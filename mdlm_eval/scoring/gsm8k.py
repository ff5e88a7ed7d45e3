r"""GSM8K: the d1 prompt, d1's score (`acc`) and the robust score (`acc_math_verify`).

Docs: `question` (str), `answer` (float ground truth, d1's reading of the `#### n` line, or None),
`solution` (the original worked answer).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from mdlm_eval.scoring import prompts
from mdlm_eval.scoring.boxes import d1_answer_block, final_answer
from mdlm_eval.scoring.verify import math_equal

_BOX = "\\boxed{"
_NUMBER = re.compile(r"-?\d+\.?\d*")
_DOTS = re.compile(r"\.+")


def doc_to_text(doc: dict) -> str:
    """The d1 user message for a GSM8K doc."""
    return prompts.user_message(prompts.GSM8K, doc["question"])


def extract_answer(text: str) -> float | None:
    r"""d1's GSM8K reader (eval/parse_and_get_acc.py, `parse_gsm_answers`).

    The first `\boxed{...}` whose content, read as a float or else by its first number, gives a value;
    box contents end at the first `}` and cannot span lines, so `\boxed{\frac{1}{2}}` reads as 1, and
    `1,000` reads as 1 (the first number). Empty or all-dot boxes are skipped. With no such box, the
    first `<answer>` block read as a float, else its last number.
    """
    for content in _lazy_box_contents(text):
        content = content.strip()
        if content and not _DOTS.fullmatch(content):
            value = _as_float(content, lambda numbers: numbers[0])
            if value is not None:
                return value
    block = d1_answer_block(text)
    return _as_float(block, lambda numbers: numbers[-1]) if block else None


def _lazy_box_contents(text: str) -> Iterator[str]:
    r"""The contents d1's `re.findall(r"\\boxed{(.*?)}", text)` gives, in order, in linear time.

    A content runs from `\boxed{` to the first `}`; a box whose line ends first gives nothing; the next
    box is looked for after the `}` of a match (findall does not overlap).
    """
    close = newline = -1
    start = text.find(_BOX)
    while start >= 0:
        begin = start + len(_BOX)
        if close < begin:  # the first `}` from here, found again only once we pass it
            close = text.find("}", begin)
            if close < 0:
                return
        if newline < begin:
            newline = text.find("\n", begin)
            if newline < 0:
                newline = len(text)
        if close < newline:
            yield text[begin:close]
            start = text.find(_BOX, close + 1)
        else:
            start = text.find(_BOX, start + 1)


def _as_float(text: str, pick: Callable[[list[str]], str]) -> float | None:
    """`float(text)`, else the number `pick` chooses among the numbers in the text, else None."""
    try:
        return float(text)
    except ValueError:
        numbers = _NUMBER.findall(text)
        return float(pick(numbers)) if numbers else None


def acc(doc: dict, text: str) -> int:
    """d1's score: 1 iff the extracted float equals the ground truth exactly."""
    value = extract_answer(text)
    return int(value is not None and value == doc["answer"])


def acc_math_verify(doc: dict, text: str) -> int:
    """Robust score: the final answer (boxes.final_answer) equals the ground truth by math-verify, read as
    LaTeX or, failing that, as plain text (GSM8K answers are numbers: `20 white hats` reads as 20)."""
    if doc["answer"] is None:
        return 0
    gold = float(doc["answer"])
    return int(math_equal(final_answer(text), str(int(gold)) if gold.is_integer() else repr(gold), plain=True))


def process_results(doc: dict, results: list[str]) -> dict[str, int]:
    """lm-eval hook: both scores of the one generation."""
    text = results[0]
    return {"acc": acc(doc, text), "acc_math_verify": acc_math_verify(doc, text)}
