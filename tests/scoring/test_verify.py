"""math-verify equivalence, and its shortcut for plain integers."""
from __future__ import annotations

import pytest
from math_verify import parse, verify

from mdlm_eval.scoring.verify import MAX_ANSWER_CHARS, math_equal


@pytest.mark.parametrize(("answer", "gold"), [("18", "18"), ("18", "19"), ("007", "7"), ("-0", "0"), ("-3", "3")])
def test_the_integer_shortcut_gives_math_verifys_verdict(answer: str, gold: str) -> None:
    assert math_equal(answer, gold) == verify(parse(f"${gold}$"), parse(f"${answer}$"))


@pytest.mark.parametrize(
    ("answer", "gold", "plain", "equal"),
    [
        ("1,000", "1000", False, True),
        ("\\frac{1}{2}", "0.5", False, True),
        ("\\$18", "18", False, True),
        ("$x = 3$ so", "3", False, True),
        ("20 white hats", "20", False, False),
        ("20 white hats", "20", True, True),
        ("16\\sqrt{3}", "16", True, False),  # a definite LaTeX reading holds
        ("2:00 pm", "2", True, True),  # the LaTeX reading is 2/0: read as text
        ("", "0", True, False),
        (None, "0", True, False),
        ("1" * (MAX_ANSWER_CHARS + 1), "1", True, False),
        ("\\frac{", "1", True, False),
    ],
)
def test_math_equal(answer: str | None, gold: str, plain: bool, equal: bool) -> None:
    assert math_equal(answer, gold, plain=plain) is equal
