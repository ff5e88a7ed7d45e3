"""Countdown: d1's reader and float evaluation (without eval), the exact score."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdlm_eval.scoring import countdown
from mdlm_eval.scoring.arithmetic import MAX_CHARS, MAX_POWER_BITS, evaluate_python
from mdlm_eval.scoring.countdown import _d1_cut_at_equals

DETERMINISTIC = settings(derandomize=True, deadline=None, max_examples=300)
DOC = {"numbers": [48, 29, 16], "target": 93, "question": "Numbers: [48, 29, 16]\nTarget: 93"}


@pytest.mark.parametrize(
    ("text", "expression"),
    [
        ("<answer>\n\\boxed{48 + 29 + 16}\n</answer>", "48 + 29 + 16"),
        ("\\boxed{48 \\times 2 \\div 3 \\cdot 1}", "48 * 2 / 3 * 1"),
        ("\\boxed{48 + 29 + 16 = 93}", "48 + 29 + 16"),
        ("<answer>\\boxed{1 + 2</answer>", "\\boxed{1 + 2"),  # unclosed box: the answer block
        ("I tried 48 + 29 + 16 = 93. \\boxed{48 + 29 + 16", "48 + 29 + 16"),  # unclosed: the text, cut at `=`
        ("no box, 1+2=3", "1+2"),  # no box: the whole text
    ],
)
def test_extract_expression(text: str, expression: str) -> None:
    assert countdown.extract_expression(text) == expression


@DETERMINISTIC
@given(st.lists(st.sampled_from(["1", "2", "+", "(", ")", " ", "=", ".", "x", "=3", "\n"]), max_size=14).map("".join))
def test_equals_cut_is_d1s_regex(text: str) -> None:
    match = re.search(r"([0-9+\-*/() ]+)=[0-9. ]+", text)
    assert _d1_cut_at_equals(text) == (match.group(1).strip() if match else text)


@pytest.mark.parametrize(
    ("text", "acc", "exact"),
    [
        ("\\boxed{48 + 29 + 16}", 1, 1),
        ("\\boxed{(48 + 29) + 16}", 1, 1),
        ("\\boxed{48 + 29 - 16}", 0, 0),
        ("\\boxed{48 + 29 + 16 + 0}", 0, 0),  # an extra number
        ("\\boxed{48 + 45}", 0, 0),  # a number not given
        ("<answer>\n48 + 29 + 16\n</answer>", 0, 1),  # no box: d1 reads the whole text
        ("\\boxed{48 + 29 + 16><|eot_id|>", 0, 0),
        ("\\boxed{48 − 29 + 16}", 0, 0),  # a Unicode minus: not in d1's alphabet, and 35 anyway
        ("\\boxed{48 + 29 + 16.}", 1, 0),  # a float literal: Python reads 16.0
        ("\\boxed{48 + 29 + 16}$", 1, 1),
    ],
)
def test_paper_and_exact_scores(text: str, acc: int, exact: int) -> None:
    assert countdown.process_results(DOC, [text]) == {"acc": acc, "acc_exact": exact}


@pytest.mark.parametrize(
    ("numbers", "target", "expression", "acc", "exact"),
    [
        ([3, 3, 9], 3, "9 / 3 ** 3 * 9", 0, 0),
        ([2, 3, 4], 4, "2 ** 3 - 4", 1, 1),  # `**` passes d1's character check
        ([7, 2, 1], 3, "7 // 2 * 1", 1, 0),  # floor division: d1 evaluates it, the exact score refuses it
        ([1, 3, 3], 1, "1 / 3 * 3", 1, 1),  # 0.9999999999999999 is within 1e-5
        ([10, 50, 7], 7, "7 + 10 ** -50", 1, 0),  # within 1e-5 for d1, not exactly 7
        ([9, 9, 9], 0, "9 - 9 ** 9 ** 9", 0, 0),  # refused quickly instead of computed for ever
        ([2, 5, 1], 3, "(5 - 2) * 1", 1, 1),
        ([3, 5, 1], 3, "\u0663 + 5 - 5 * 1", 0, 0),  # an Arabic-Indic 3 is a digit for d1's check, not for Python
    ],
)
def test_arithmetic_edge_cases(numbers: list[int], target: int, expression: str, acc: int, exact: int) -> None:
    doc = {"numbers": numbers, "target": target}
    assert countdown.process_results(doc, [f"\\boxed{{{expression}}}"]) == {"acc": acc, "acc_exact": exact}


def test_each_number_once_means_as_a_multiset() -> None:
    doc = {"numbers": [5, 5, 2], "target": 12}
    assert countdown.process_results(doc, ["\\boxed{5 + 5 + 2}"]) == {"acc": 1, "acc_exact": 1}
    assert countdown.process_results(doc, ["\\boxed{5 + 2 + 5 + 0}"]) == {"acc": 0, "acc_exact": 0}


# Where `acc` departs from d1's `eval`, on purpose: the two bounds of mdlm_eval.scoring.arithmetic. Each is
# pinned at the bound (scored as d1 scores it) and one past it (refused: 0, where d1's eval would give 1).
def test_d1_bound_expression_length() -> None:
    doc = {"numbers": [30, 100, 93], "target": 37}
    at_bound = "30 + 100 -" + " " * (MAX_CHARS - len("30 + 100 -93")) + "93"
    assert len(at_bound) == MAX_CHARS and eval(at_bound) == eval(at_bound + " ") == 37  # noqa: S307 (constant)
    assert countdown.acc(doc, f"\\boxed{{{at_bound}}}") == 1
    assert countdown.acc(doc, f"\\boxed{{{at_bound.replace('-', '- ')}}}") == 0  # MAX_CHARS + 1 characters
    assert countdown.acc(doc, f"\\boxed{{  {at_bound}  }}") == 1  # counted after stripping, as d1 strips


def test_d1_bound_power_size() -> None:
    assert MAX_POWER_BITS == 65_536  # 2 is 2 bits long: 2**32768 is at the bound, 2**32769 past it
    assert countdown.acc({"numbers": [2, 32768, 0], "target": 0}, "\\boxed{2**32768*0}") == 1
    assert countdown.acc({"numbers": [2, 32769, 0], "target": 0}, "\\boxed{2**32769*0}") == 0  # d1: 1
    assert evaluate_python("(100**99)**98") == 100 ** (99 * 98)  # the largest left-nested power of cd3's numbers


def call_at_depth(depth: int, function, *args):
    return function(*args) if depth == 0 else call_at_depth(depth - 1, function, *args)


@pytest.mark.parametrize("depth", [0, 50, 500, 850])
def test_score_does_not_depend_on_the_callers_stack_depth(depth: int) -> None:
    doc = {"numbers": [30, 100, 93], "target": 37}
    deep = "\\boxed{30+100-" + "+" * 940 + "93}"  # 940 unary pluses: a tree 942 levels deep
    assert call_at_depth(depth, countdown.process_results, doc, [deep]) == {"acc": 1, "acc_exact": 1}
    nested = "\\boxed{" + "(" * 200 + "30+100-93" + ")" * 200 + "}"
    assert call_at_depth(depth, countdown.process_results, doc, [nested]) == {"acc": 1, "acc_exact": 1}
