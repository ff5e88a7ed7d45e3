"""MATH-500: d1's reader and equivalence, the robust math-verify score."""
from __future__ import annotations

import pytest

from mdlm_eval.scoring import math500


def doc(answer: str) -> dict:
    return {"problem": "p", "answer": answer}


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("<answer>\n\\boxed{\\frac{1}{2}}\n</answer>", "\\frac{1}{2}"),
        ("\\fbox{5}", "\\fbox{5}"),
        ("The answer is 5.", "The answer is 5."),  # no box: the whole text
        ("<answer>\n\\boxed{28\n</answer>", "\\boxed{28"),  # unclosed box: the answer block
        ("\\boxed{} <answer>7</answer>", "7"),  # empty box: the answer block
        ("\\boxed{5", None),
    ],
)
def test_extract_answer(text: str, answer: str | None) -> None:
    assert math500.extract_answer(text) == answer


@pytest.mark.parametrize(
    ("text", "gold", "acc", "robust"),
    [
        ("\\boxed{\\frac{1}{2}}", "\\frac12", 1, 1),
        ("\\boxed{0.25}", "\\frac14", 0, 1),
        ("\\boxed{\\frac{3}{24}}", "\\frac{1}{8}", 0, 1),
        ("\\fbox{5}", "5", 0, 1),
        ("\\boxed{15}", "15\\mbox{ cm}^2", 0, 1),
        ("<answer>\n\\boxed{28\n</answer><|eot_id|>", "28", 0, 1),
        ("<answer>\\frac{1}{4}</answer>", "\\frac{1}{4}", 0, 1),  # no box: d1 compares the whole text
        ("\\boxed{(3, \\frac{\\pi}{2})}", "\\left( 3, \\frac{\\pi}{2} \\right)", 1, 1),
        ("\\boxed{10080}", "10,\\!080", 0, 1),
        ("\\boxed{7}", "8", 0, 0),
        ("", "8", 0, 0),
    ],
)
def test_paper_and_robust_scores(text: str, gold: str, acc: int, robust: int) -> None:
    assert math500.process_results(doc(gold), [text]) == {"acc": acc, "acc_math_verify": robust}


def test_doc_to_text_keeps_the_stray_quote_of_d1s_instruction() -> None:
    assert math500.doc_to_text(doc("1")).endswith('</answer>" \n\n\np')
