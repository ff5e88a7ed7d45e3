"""Any generation, however odd, is scored without raising; one that cannot hold the answer scores 0."""
from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdlm_eval.scoring import TASKS

DETERMINISTIC = settings(
    derandomize=True, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow]
)
STRUCTURE = ["\\boxed{", "\\boxed ", "\\fbox{", "boxed{", "{", "}", "<answer>", "</answer>", "```", "$", "=",
             "<|eot_id|>", "<|endoftext|>", "\\frac", "\\sqrt", "\\text{ ", "/", "\n", " ", "**", "(", ")"]  # fmt: skip
# Gold answers that need the digits 1-9: texts below only hold 0 and no other number-like character.
DOCS = {
    "gsm8k": {"question": "q", "answer": 7777.0},
    "math500": {"problem": "p", "answer": "\\frac{3}{7}"},
    "countdown": {"numbers": [3, 5, 7], "target": 8},
    "sudoku": {"puzzle": "4320004330100004", "solution": "4321124334122134"},
}
no_numbers = st.characters(exclude_categories=["Nd", "No", "Nl", "Lu", "Ll", "Lt", "Lm", "Lo", "Cs"])
odd_text = st.lists(st.one_of(st.sampled_from(STRUCTURE), st.just("0"), st.text(no_numbers, max_size=4)), max_size=40)
digits = st.from_regex(r"\d{1,17}", fullmatch=True)
any_text = st.lists(st.one_of(st.sampled_from(STRUCTURE), st.text(max_size=6), digits), max_size=40)


def _in_range(task: str, scores: dict) -> bool:
    paper, robust = scores["acc"], [value for metric, value in scores.items() if metric != "acc"]
    paper_ok = 0 <= paper[0] <= paper[1] == 8 if task == "sudoku" else paper in (0, 1)
    return paper_ok and len(robust) == 1 and robust[0] in (0, 1)


@DETERMINISTIC
@given(any_text.map("".join))
@pytest.mark.parametrize("task", sorted(TASKS))
def test_any_text_is_scored_without_raising(task: str, text: str) -> None:
    assert _in_range(task, TASKS[task].process_results(DOCS[task], [text]))


@DETERMINISTIC
@given(odd_text.map("".join))
@pytest.mark.parametrize("task", sorted(TASKS))
def test_text_without_the_answer_scores_zero(task: str, text: str) -> None:
    scores = TASKS[task].process_results(DOCS[task], [text])
    assert scores == {**{metric: 0 for metric in scores}, "acc": (0, 8) if task == "sudoku" else 0}


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize(
    "text",
    ["", "\\boxed{" * 50_000, "}" * 300_000, "<answer>" * 40_000, "1" * 300_000, "\U0001f600\u202e\ufeff" * 50_000,
     "<answer>```" * 30_000, "\\boxed{1 " * 40_000, ("x" * 200 + "\n") * 1500],
)  # fmt: skip
def test_empty_and_huge_texts_score_zero_quickly(task: str, text: str) -> None:
    start = time.perf_counter()
    scores = TASKS[task].process_results(DOCS[task], [text])
    assert time.perf_counter() - start < 3
    assert scores == {**{metric: 0 for metric in scores}, "acc": (0, 8) if task == "sudoku" else 0}
