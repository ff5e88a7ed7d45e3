"""GSM8K: d1's reader and its quirks, the robust math-verify score."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdlm_eval.scoring import gsm8k
from mdlm_eval.scoring.gsm8k import _lazy_box_contents

DETERMINISTIC = settings(derandomize=True, deadline=None, max_examples=300)


def doc(answer: float | None) -> dict:
    return {"question": "q", "answer": answer}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("\\boxed{18}", 18.0),
        ("\\boxed{1,000}", 1.0),  # thousands separator: the first number
        ("\\boxed{\\frac{1}{2}}", 1.0),  # cut at the first `}`: `\frac{1`
        ("\\boxed{...} \\boxed{ } \\boxed{7}", 7.0),  # blank and dotted boxes skipped
        ("\\boxed{x} \\boxed{3} \\boxed{4}", 3.0),  # the first box that gives a number
        ("\\boxed{1e3}", 1000.0),  # float() reads it
        ("\\boxed{\n5}", None),  # a box cannot span lines
        ("<answer>\nIt is 12, not 13.\n</answer>", 13.0),  # the answer block's last number
        ("<answer> 2.5 </answer>", 2.5),
        ("\\boxed{abc}<answer>4</answer>", 4.0),
        ("18", None),
    ],
)
def test_extract_answer(text: str, value: float | None) -> None:
    assert gsm8k.extract_answer(text) == value


@DETERMINISTIC
@given(st.lists(st.sampled_from(["\\boxed{", "}", "{", "\n", "1", " ", "\\boxed{2}"]), max_size=14).map("".join))
def test_lazy_boxes_are_d1s_regex(text: str) -> None:
    assert list(_lazy_box_contents(text)) == re.findall(r"\\boxed\{(.*?)\}", text)


@pytest.mark.parametrize(
    ("text", "answer", "acc", "robust"),
    [
        ("<answer>\n\\boxed{6,277}\n</answer><|eot_id|>", 6277.0, 0, 1),
        ("\\boxed{\\$8,400}", 8400.0, 0, 1),
        ("\\boxed{20 white hats}", 20.0, 1, 1),
        ("\\boxed{18 \\text{ dollars}}", 18.0, 1, 1),
        ("\\boxed{45/3}", 15.0, 0, 1),
        ("\\boxed{162000} ... <answer>\\boxed{16200}</answer>", 162000.0, 1, 0),
        ("\\boxed{\\frac{2}{3}}", 2.0, 1, 0),
        ("\\fbox{12}", 12.0, 0, 1),
        ("<answer>\n\\boxed{36><|eot_id|>", 36.0, 0, 1),
        ("\\boxed{0.5}", 0.5, 1, 1),
        ("\\boxed{5}", None, 0, 0),
    ],
)
def test_paper_and_robust_scores(text: str, answer: float | None, acc: int, robust: int) -> None:
    assert gsm8k.process_results(doc(answer), [text]) == {"acc": acc, "acc_math_verify": robust}


def test_doc_to_text_is_instruction_blank_line_question() -> None:
    assert gsm8k.doc_to_text(doc(1.0)).endswith("</answer>\n\nq")
