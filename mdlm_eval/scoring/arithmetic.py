"""Arithmetic on model-written expressions, never through `eval`.

The text is parsed with Python's own grammar (`ast.parse`, which runs nothing) and the tree is walked
here, allowing only number literals, parentheses, unary + and -, and binary operators. Two number
systems:

- `evaluate_python`: Python's own semantics for + - * / // ** on int and float literals, so the value
  is what `eval` gives (d1's Countdown scorer, eval/parse_and_get_acc.py, evaluates with `eval`).
- `evaluate_exact`: exact rationals (`fractions.Fraction`) over integer literals, + - * / and ** with an
  integer exponent; the literals used are returned too.

Inputs longer than `MAX_CHARS` and powers whose result would exceed `MAX_POWER_BITS` bits (a model can
write 9**9**9) are refused: every failure is an `Unevaluable`. These two bounds are where `evaluate_python`
departs from `eval`. The value is a function of the text alone, whatever the caller's stack depth.
"""
from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

MAX_CHARS = 1000
MAX_POWER_BITS = 1 << 16

Number = int | float | complex


class Unevaluable(ValueError):
    """The text is not an allowed expression, or its value is undefined or too large."""


def evaluate_python(expr: str) -> Number:
    """The value Python's `eval` gives for an arithmetic expression on int and float literals."""

    def literal(value: object) -> Number:
        if type(value) not in (int, float):
            raise Unevaluable(f"not a number: {value!r}")
        return value  # type: ignore[return-value]

    return _evaluate(expr, literal, _PYTHON_OPERATORS)


def evaluate_exact(expr: str) -> tuple[Fraction, list[int]]:
    """The exact rational value of an expression over integer literals, and the literals in order."""
    used: list[int] = []

    def literal(value: object) -> Fraction:
        if type(value) is not int:
            raise Unevaluable(f"not an integer: {value!r}")
        used.append(value)  # type: ignore[arg-type]
        return Fraction(value)  # type: ignore[arg-type]

    return _evaluate(expr, literal, _EXACT_OPERATORS), used


def _evaluate(expr: str, literal: Callable, binary: dict[type, Callable]):
    """Parse `expr` as one Python expression and fold it with `literal` and the `binary` operators."""
    text = expr.strip()
    if len(text) > MAX_CHARS:
        raise Unevaluable(f"longer than {MAX_CHARS} characters")
    try:
        return _fold(_parse(text), literal, binary)
    except Unevaluable:
        raise
    except (SyntaxError, ValueError, TypeError, ArithmeticError, RecursionError, MemoryError) as e:
        raise Unevaluable(str(e)) from e


def _parse(text: str) -> ast.expr:
    """`ast.parse` of one expression. Building the tree counts against the caller's recursion limit (a chain of
    940 unary operators parses at the top of a stack, not 700 frames down), so when the caller's stack is too
    deep the text is parsed again on a fresh thread's empty stack: the tree depends on the text alone."""
    try:
        return ast.parse(text, mode="eval").body
    except RecursionError:
        with ThreadPoolExecutor(max_workers=1) as fresh_stack:
            return fresh_stack.submit(ast.parse, text, mode="eval").result().body


def _fold(root: ast.expr, literal: Callable, binary: dict[type, Callable]):
    """Evaluate the tree bottom-up (left operand first) with an explicit stack: no recursion, so the value
    never depends on the caller's stack depth."""
    values: list = []
    todo: list[tuple[ast.AST, bool]] = [(root, False)]
    while todo:
        node, operands_done = todo.pop()
        if isinstance(node, ast.Constant):
            values.append(literal(node.value))
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            if operands_done:
                values.append(_UNARY[type(node.op)](values.pop()))
            else:
                todo += [(node, True), (node.operand, False)]
        elif isinstance(node, ast.BinOp) and type(node.op) in binary:
            if operands_done:
                right = values.pop()
                values.append(binary[type(node.op)](values.pop(), right))
            else:
                todo += [(node, True), (node.right, False), (node.left, False)]
        else:
            raise Unevaluable(f"not allowed: {type(node).__name__}")
    return values.pop()


def _python_power(base: Number, exponent: Number) -> Number:
    """`base ** exponent` as Python computes it, refused when an integer result would be too large."""
    if type(base) is int and type(exponent) is int and exponent > 0 and abs(base) > 1:
        _check_power_size(abs(base).bit_length(), exponent)
    return base**exponent


def _exact_power(base: Fraction, exponent: Fraction) -> Fraction:
    """`base ** exponent` for an integer exponent, exactly; a fractional exponent is refused."""
    if exponent.denominator != 1:
        raise Unevaluable("fractional exponent")
    if abs(base) not in (0, 1):
        _check_power_size(max(base.numerator.bit_length(), base.denominator.bit_length()), abs(exponent))
    return base ** int(exponent)


def _check_power_size(base_bits: int, exponent: int | Fraction) -> None:
    if base_bits * exponent > MAX_POWER_BITS:
        raise Unevaluable(f"power larger than {MAX_POWER_BITS} bits")


_UNARY: dict[type, Callable] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_PYTHON_OPERATORS: dict[type, Callable] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: _python_power,
}
_EXACT_OPERATORS: dict[type, Callable] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: _exact_power,
}
