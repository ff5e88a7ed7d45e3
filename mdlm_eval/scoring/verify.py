"""Mathematical equivalence of a final answer and a gold answer, by the math-verify package.

math-verify parses both sides to sympy (LaTeX or plain expressions; thousands separators such as `1,000`,
`1{,}000` and `10,\\!080` read as one number) and compares them symbolically and numerically. Its time
limits use `signal.alarm`, which only works in the main thread; elsewhere they are off. math-verify (and
sympy) are imported on the first comparison: tasks that never compare do not pay their two seconds of import.
"""
from __future__ import annotations

import functools
import re
import threading

_TIMEOUT_S = 5
MAX_ANSWER_CHARS = 1000
_DOLLAR = re.compile(r"(?<!\\)\$")
_INTEGER = re.compile(r"-?[0-9]+")


def math_equal(answer: str | None, gold: str, *, plain: bool = False) -> bool:
    """True iff the answer (a box's content or an answer block's text) equals the gold answer.

    Text without an unescaped `$` is read as one LaTeX formula; text with one is searched for formulas.
    With `plain`, an answer whose LaTeX reading has unknowns (words read as products of symbols, `x = 3`),
    is undefined or cannot be parsed is read again as plain text: math-verify's expression extraction, its
    last number or expression. Answers longer than `MAX_ANSWER_CHARS`, anything math-verify cannot parse,
    and comparisons that time out are not equal.
    """
    if not answer or len(answer) > MAX_ANSWER_CHARS:
        return False
    if _INTEGER.fullmatch(answer) and _INTEGER.fullmatch(gold):
        return int(answer) == int(gold)  # math-verify's verdict, without its LaTeX parser's cost
    timeout = _TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    from math_verify import parse, verify

    extraction, plain_extraction = _extraction_configs()
    try:
        parsed_gold = parse(_as_latex(gold), extraction_config=extraction, parsing_timeout=timeout)
        latex = parse(_as_latex(answer), extraction_config=extraction, parsing_timeout=timeout)
        if latex and verify(parsed_gold, latex, timeout_seconds=timeout):
            return True
        if plain and not _is_definite(latex):
            text = parse(answer, extraction_config=plain_extraction, parsing_timeout=timeout)
            return bool(text) and verify(parsed_gold, text, timeout_seconds=timeout)
    except Exception:  # math-verify and sympy can raise almost anything on odd input: not equal
        pass
    return False


@functools.cache
def _extraction_configs() -> tuple[tuple, tuple]:
    """(LaTeX then expression extraction, expression extraction alone)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    return (LatexExtractionConfig(), ExprExtractionConfig()), (ExprExtractionConfig(),)


def _is_definite(parsed: list) -> bool:
    """math-verify read a value: no unknowns, and not the undefined `zoo`/`nan` (`2:00` reads as 2/0)."""
    from sympy import Basic, nan, zoo

    value = parsed[0] if parsed else None
    return isinstance(value, Basic) and not value.free_symbols and not value.has(zoo, nan)


def _as_latex(text: str) -> str:
    return text if _DOLLAR.search(text) else f"${text}$"
