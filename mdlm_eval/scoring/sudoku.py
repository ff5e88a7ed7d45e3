r"""4x4 Sudoku: the d1 prompt, d1's cell accuracy (`acc`) and whole-grid success (`solved`).

Docs: `puzzle` (16 digits, 0 = empty), `solution` (16 digits), `question` ("Solve the following Sudoku
puzzle: <puzzle>\n"), `index` (row of the puzzle in d1's 500-puzzle file).
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from mdlm_eval.scoring import prompts
from mdlm_eval.scoring.boxes import answer_block, assistant_turn

_END_TOKENS = ("<|eot_id|>", "<|endoftext|>")
_FENCED_DIGITS = re.compile(r"```([\d\s]++)```")
_AFTER_ANSWER = re.compile(r"</answer>\s*(.*?)(?:<\|eot_id\|>|<\|endoftext\|>|$)", re.DOTALL)
_GRID_BEFORE_CLOSE = re.compile(r"(\d{16})\s*</answer>")
_LONE_SIXTEEN = re.compile(r"\b(\d{16})\b")
_WHITESPACE = re.compile(r"\s")
_GRID_DIGITS = re.compile(r"[0-9]")
_LONE_GRID = re.compile(r"(?<![0-9])[0-9]{16}(?![0-9])")
_UNITS = tuple(
    [[4 * r + c for c in range(4)] for r in range(4)]
    + [[4 * r + c for r in range(4)] for c in range(4)]
    + [[4 * (r0 + r) + c0 + c for r in range(2) for c in range(2)] for r0 in (0, 2) for c0 in (0, 2)]
)


def doc_to_text(doc: dict) -> str:
    """The d1 user message for a Sudoku doc."""
    return prompts.user_message(prompts.SUDOKU, doc["question"])


def extract_grid(text: str) -> str:
    r"""d1's Sudoku reader (eval/parse_and_get_acc.py, `parse_sudoku_answers`); "" when nothing is found.

    The first of five captures that is not blank: the digits and whitespace between ``` fences after the
    first `<answer>`; the text from the first `<answer>` to an end token or `</answer>`; the text after the
    first `</answer>` up to an end token; the first 16 digits followed by `</answer>`; the first lone run
    of 16 digits. Whitespace is removed, then the string is padded with 0 or cut to 16 characters.
    Each capture equals what d1's regular expression captures, computed without its quadratic scans.
    """
    for capture in (_fenced(text), _answer_to_end(text), _after_answer(text), _grid_before_close(text)):
        if capture and capture.strip():
            return _WHITESPACE.sub("", capture)[:16].ljust(16, "0")
    match = _LONE_SIXTEEN.search(text)
    return match.group(1) if match else ""


def _fenced(text: str) -> str | None:
    r"""d1's `<answer>.*?```\s*([\d\s]+)```` up to leading whitespace, which is removed anyway."""
    start = text.find("<answer>")
    match = _FENCED_DIGITS.search(text, start + len("<answer>")) if start >= 0 else None
    return match.group(1) if match else None


def _answer_to_end(text: str) -> str | None:
    r"""d1's `<answer>(.*?)(?:<\|eot_id\|>|<\|endoftext\|>|</answer>)`."""
    start = text.find("<answer>")
    if start < 0:
        return None
    begin = start + len("<answer>")
    ends = [i for i in (text.find(t, begin) for t in (*_END_TOKENS, "</answer>")) if i >= 0]
    return text[begin : min(ends)] if ends else None


def _after_answer(text: str) -> str | None:
    match = _AFTER_ANSWER.search(text)
    return match.group(1) if match else None


def _grid_before_close(text: str) -> str | None:
    r"""d1's `.*?(\d{16})\s*</answer>`: the leading lazy `.*?` only makes the search slow."""
    match = _GRID_BEFORE_CLOSE.search(text)
    return match.group(1) if match else None


def acc(doc: dict, text: str) -> tuple[int, int]:
    """d1's score as (correct originally-empty cells, originally-empty cells); see `cell_accuracy`."""
    blanks = [i for i, given in enumerate(doc["puzzle"]) if given == "0"]
    grid = extract_grid(text)
    correct = sum(grid[i] == doc["solution"][i] for i in blanks) if grid else 0
    return correct, len(blanks)


def cell_accuracy(items: Sequence[Sequence[int]]) -> float:
    """lm-eval aggregation of `acc`: the micro-average, all correct cells over all empty cells (d1's)."""
    total = sum(blanks for _, blanks in items)
    return sum(correct for correct, _ in items) / total if total else 0.0


def cell_accuracy_stderr(items: Sequence[Sequence[int]]) -> float:
    """Standard error of `cell_accuracy`, clustered by puzzle: the ratio estimator r = sum(c_i) / sum(n_i) over
    m puzzles (c_i correct of n_i empty cells) has SE = sqrt(sum((c_i - r n_i)^2) / (m (m - 1))) / mean(n_i)
    (Cochran, Sampling Techniques, 3rd ed., 1977, eq. 6.13 with no finite-population correction; Miller,
    "Adding Error Bars to Evals", arXiv 2411.00640, section 2.3). The cells of one puzzle are not independent."""
    m = len(items)
    total = sum(blanks for _, blanks in items)
    if m < 2 or not total:
        return float("nan")
    r = cell_accuracy(items)
    spread = sum((correct - r * blanks) ** 2 for correct, blanks in items)
    return (spread / (m * (m - 1))) ** 0.5 / (total / m)


cell_accuracy.stderr = cell_accuracy_stderr  # lm-eval's `acc_stderr` (see _mdlm_eval_hook: aggregation.stderr)


def solved(doc: dict, text: str) -> int:
    """Robust score: 1 iff the final grid is a valid 4x4 Sudoku that keeps every given digit.

    The grid is the 16 digits of the last `<answer>` block of the turn (separators ignored; any other
    digit count fails), else the last lone run of 16 digits in the turn.
    """
    turn = assistant_turn(text)
    block = answer_block(turn)
    if block is not None:
        digits = _GRID_DIGITS.findall(block)
    else:
        runs = _LONE_GRID.findall(turn)
        digits = list(runs[-1]) if runs else []
    if len(digits) != 16:
        return 0
    keeps_givens = all(given in ("0", digit) for given, digit in zip(doc["puzzle"], digits))
    units_complete = all(sorted(digits[i] for i in unit) == ["1", "2", "3", "4"] for unit in _UNITS)
    return int(keeps_givens and units_complete)


def process_results(doc: dict, results: list[str]) -> dict[str, object]:
    """lm-eval hook: the cell pair for `acc` (aggregated by `cell_accuracy`) and `solved`."""
    text = results[0]
    return {"acc": acc(doc, text), "solved": solved(doc, text)}
