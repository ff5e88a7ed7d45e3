r"""MATH answer equivalence as d1 scores it: Hendrycks' string normalisation, then string equality.

Re-implements `is_equiv` / `strip_string` of dllm-reasoning/d1 eval/parser_helper.py (itself the MATH
dataset's reference normaliser), quirks included: where the reference normaliser raises (two `\text{ `
units, a `\sqrt` or `\frac` with nothing after it, an `a/b` whose sides are not integers), d1 compares
the two strings unnormalised.
"""
from __future__ import annotations

_REMOVED = ("\\left", "\\right", "^{\\circ}", "^\\circ", "\\$")
_UNITS = "\\text{ "


class _Unnormalisable(Exception):
    """The reference normaliser would raise on this string."""


def d1_math_equiv(answer: str, gold: str) -> bool:
    """d1's `is_equiv`: normalised strings equal; if either cannot be normalised, raw strings equal."""
    try:
        return normalise(answer) == normalise(gold)
    except _Unnormalisable:
        return answer == gold


def normalise(s: str) -> str:
    r"""Hendrycks' `strip_string`, step by step in the reference's order.

    Drops newlines and `\!`; `\\` -> `\`; tfrac/dfrac -> frac; drops \left, \right, degree marks and `\$`;
    cuts units after `\text{ `; drops `\%`; `.5` -> `0.5`; drops a short `k = ` prefix; braces `\sqrt`
    and `\frac` arguments; drops spaces; `0.5` -> `\frac{1}{2}`; `a/b` of integers -> `\frac{a}{b}`.
    """
    s = s.replace("\n", "").replace("\\!", "").replace("\\\\", "\\")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac")
    for token in _REMOVED:
        s = s.replace(token, "")
    s = _drop_units(s)
    s = s.replace("\\%", "").replace("\\%", "")  # twice, as the reference: `\\%%` -> `\%` -> ``
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    if not s:
        return s
    if s[0] == ".":
        s = "0" + s
    sides = s.split("=")
    if len(sides) == 2 and len(sides[0]) <= 2:
        s = sides[1]
    s = _brace_sqrt(s).replace(" ", "")
    s = _brace_frac(s)
    if s == "0.5":
        s = "\\frac{1}{2}"
    return _slash_to_frac(s)


def _drop_units(s: str) -> str:
    r"""Keep what precedes `\text{ ` (taken as units); more than one occurrence is unnormalisable."""
    if _UNITS not in s:
        return s
    parts = s.split(_UNITS)
    if len(parts) != 2:
        raise _Unnormalisable
    return parts[0]


def _brace_sqrt(s: str) -> str:
    r"""`\sqrt3` -> `\sqrt{3}` (one character); a `\sqrt` with nothing after it is unnormalisable."""
    head, *pieces = s.split("\\sqrt")
    out = [head]
    for piece in pieces:
        if not piece:
            raise _Unnormalisable
        out.append(piece if piece[0] == "{" else "{" + piece[0] + "}" + piece[1:])
    return "\\sqrt".join(out)


def _brace_frac(s: str) -> str:
    r"""`\frac12` -> `\frac{1}{2}`, `\frac1{2}` -> `\frac{1}{2}`.

    A `\frac` with nothing after it is unnormalisable; one followed by a single character leaves the
    whole string as it was.
    """
    head, *pieces = s.split("\\frac")
    out = [head]
    for piece in pieces:
        if not piece:
            raise _Unnormalisable
        if piece[0] != "{":
            if len(piece) < 2:
                return s
            numerator, second, rest = piece[0], piece[1], piece[2:]
            braced = second if second == "{" else "{" + second + "}"
            piece = "{" + numerator + "}" + braced + rest
        out.append(piece)
    return "\\frac".join(out)


def _slash_to_frac(s: str) -> str:
    r"""`a/b` with integer sides written canonically -> `\frac{a}{b}`; non-integer sides are unnormalisable."""
    sides = s.split("/")
    if len(sides) != 2:
        return s
    try:
        numerator, denominator = int(sides[0]), int(sides[1])
    except ValueError as e:
        raise _Unnormalisable from e
    if s != f"{numerator}/{denominator}":
        return s
    return f"\\frac{{{numerator}}}{{{denominator}}}"
