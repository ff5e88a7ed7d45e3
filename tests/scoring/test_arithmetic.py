"""The safe evaluator: Python's arithmetic without `eval`, exact rationals, and refusals."""
from __future__ import annotations

import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdlm_eval.scoring.arithmetic import MAX_CHARS, Unevaluable, evaluate_exact, evaluate_python

DETERMINISTIC = settings(derandomize=True, deadline=None, max_examples=400)

literals = st.one_of(
    st.integers(0, 999).map(str),
    st.sampled_from(["0", "00", "1.5", ".5", "2.", "0.1", "007", "1e3"]),
)


@st.composite
def expressions(draw, depth: int = 3) -> str:
    """Small well-formed (and a few ill-formed) expressions over d1's alphabet: digits, + - * / ( ) . space."""
    if depth == 0 or draw(st.booleans()):
        return draw(literals)
    kind = draw(st.sampled_from(["binary", "binary", "unary", "parens", "power"]))
    if kind == "unary":
        return draw(st.sampled_from(["-", "+", "- "])) + draw(expressions(depth - 1))
    if kind == "parens":
        return "(" + draw(expressions(depth - 1)) + ")"
    if kind == "power":  # small exponents only, so that eval (the oracle) finishes
        exponent = draw(st.sampled_from(["0", "1", "2", "3", "-1", "(-2)", "0.5"]))
        return "(" + draw(expressions(depth - 1)) + ")**" + exponent
    operator = draw(st.sampled_from(["+", "-", "*", "/", "//", " * ", " / "]))
    return draw(expressions(depth - 1)) + operator + draw(expressions(depth - 1))


def _python(expr: str):
    """The oracle: what d1 computes, `eval` with no builtins (here in the test only, on generated text)."""
    try:
        return eval(expr.strip(), {"__builtins__": None}, {})  # noqa: S307
    except Exception:
        return None


@DETERMINISTIC
@given(expressions())
def test_agrees_with_python_eval(expr: str) -> None:
    expected = _python(expr)
    try:
        value = evaluate_python(expr)
    except Unevaluable:
        assert expected is None or isinstance(expected, tuple)
        return
    assert type(value) is type(expected) and repr(value) == repr(expected)


@pytest.mark.parametrize(
    ("expr", "value"),
    [("3 + 4 * 5", 23), ("2**-1", 0.5), ("-2**2", -4), ("7 // 2", 3), ("1/3", 1 / 3), ("(1)", 1), (" 8 \n", 8)],
)
def test_python_semantics(expr: str, value) -> None:
    assert evaluate_python(expr) == value


@pytest.mark.parametrize(
    "expr",
    ["9**9**9", "2**100000", "(10**9)**(10**9)", "1" + "+1" * MAX_CHARS, "()", "...", "(1)(2)", "3 4", "007", "1/0",
     "2.0**10000", "__import__('os')", "x", "[1]", "1 if 1 else 2", "\u0663 + 1"],
)  # fmt: skip
def test_refuses_what_is_not_plain_arithmetic_quickly(expr: str) -> None:
    start = time.perf_counter()
    with pytest.raises(Unevaluable):
        evaluate_python(expr)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize(
    ("expr", "value"), [("1**(10**9)", 1), ("0**(10**9)", 0), ("2**-100000", 0.0), ("(-8)**(1/3)", (-8) ** (1 / 3))]
)
def test_cheap_huge_powers_are_computed(expr: str, value) -> None:
    assert evaluate_python(expr) == value


@DETERMINISTIC
@given(st.recursive(st.integers(0, 50), lambda inner: st.tuples(inner, st.sampled_from("+-*/"), inner), max_leaves=6))
def test_exact_evaluation_is_rational_arithmetic(tree) -> None:
    def render(node) -> str:
        return str(node) if isinstance(node, int) else f"({render(node[0])} {node[1]} {render(node[2])})"

    def fold(node) -> Fraction:
        if isinstance(node, int):
            return Fraction(node)
        left, operator, right = fold(node[0]), node[1], fold(node[2])
        if operator == "/":
            return left / right
        return left + right if operator == "+" else left - right if operator == "-" else left * right

    def leaves(node) -> list[int]:
        return [node] if isinstance(node, int) else leaves(node[0]) + leaves(node[2])

    try:
        expected = fold(tree)
    except ZeroDivisionError:
        with pytest.raises(Unevaluable):
            evaluate_exact(render(tree))
        return
    assert evaluate_exact(render(tree)) == (expected, leaves(tree))


@pytest.mark.parametrize("expr", ["1.5 + 1", "7 // 2", "2 ** (1/2)", "9**9**9", "1/0", "2 % 3"])
def test_exact_refuses_floats_floor_division_irrational_and_huge(expr: str) -> None:
    with pytest.raises(Unevaluable):
        evaluate_exact(expr)


def test_exact_powers_with_integer_exponents() -> None:
    assert evaluate_exact("2**3 - (1/2)**-1") == (Fraction(6), [2, 3, 1, 2, 1])
