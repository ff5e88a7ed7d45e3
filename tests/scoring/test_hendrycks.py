"""d1's MATH equivalence: Hendrycks normalisation, and raw comparison where the reference normaliser raises."""
from __future__ import annotations

import pytest

from mdlm_eval.scoring.hendrycks import d1_math_equiv, normalise


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("\\frac12", "\\frac{1}{2}"),
        ("\\dfrac{3}{4}", "\\frac{3}{4}"),
        ("0.5", "\\frac{1}{2}"),
        ("1/2", "\\frac{1}{2}"),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"),
        ("k = 5", "5"),
        ("x+y = 5", "x+y=5"),  # the prefix is longer than two characters: kept
        ("\\sqrt3", "\\sqrt{3}"),
        ("90^\\circ", "90"),
        ("5\\%", "5"),
        ("\\\\\\%%", ""),  # `\\` -> `\`, then `\%` removed twice
        ("10 \\text{ cm}", "10"),
        (".25", "0.25"),
        ("\\frac1{72}", "\\frac{1}{72}"),
        ("\\frac1", "\\frac1"),  # one character after \frac: the string is left as it was
        ("", ""),
    ],
)
def test_normalise(written: str, normal: str) -> None:
    assert normalise(written) == normal


@pytest.mark.parametrize(
    ("answer", "gold", "equal"),
    [
        ("\\frac{1}{2}", "0.5", True),
        ("\\dfrac{1}{2}", "1/2", True),
        ("x/2", "\\frac{x}{2}", False),  # `x/2` cannot be normalised: raw strings compared
        ("x/2", "x/2", True),
        ("1 \\text{ a} \\text{ b}", "1", False),  # two `\text{ `: raw comparison
        ("3\\sqrt", "3\\sqrt", True),  # a trailing \sqrt: raw comparison
        ("\\frac{1}{2}\\frac", "\\frac{1}{2}", False),
        ("\\fbox{5}", "5", False),  # d1 keeps \fbox around the answer
        ("10,080", "10,\\!080", True),
        ("15.975", "\\frac{639}{40}", False),  # string equality only
    ],
)
def test_d1_math_equiv(answer: str, gold: str, equal: bool) -> None:
    assert d1_math_equiv(answer, gold) is equal
