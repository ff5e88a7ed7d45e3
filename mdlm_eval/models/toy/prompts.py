"""The user messages and assistant answers the toy is trained on (the toy tasks build their prompts here).

Compact messages (d1's instructions are too long for the toy): "Sudoku 4x4: <16 digits, 0 = empty>" and
"Countdown:  30 100  93 ->  23" (numbers and target right-aligned in three characters, so every digit sits at a
fixed place; the answer writes the numbers the same way). No assistant prefix: generation starts right after the
chat template's generation prompt.
Answers: "<answer>" + 16 digits + "</answer>" (d1's sudoku parser) and "\\boxed{EXPR}" (d1's countdown parser), then
EOS padding to the toy's generation length.
"""
from __future__ import annotations

ASSISTANT_PREFIX = ""  # what the toy was trained to see before its answer (nothing)


def sudoku_prompt(puzzle: str) -> str:
    """User message for a 4x4 Sudoku given as 16 digits, row by row, 0 for an empty cell."""
    if len(puzzle) != 16 or not puzzle.isdigit():
        raise ValueError(f"a 4x4 puzzle is 16 digits, got {puzzle!r}")
    return f"Sudoku 4x4: {puzzle}"


def sudoku_answer(solution: str) -> str:
    return f"<answer>{solution}</answer>"


def countdown_field(n: int) -> str:
    """A Countdown number as the prompt and the answer write it: right-aligned in three characters."""
    return f"{int(n):>3}"


def countdown_prompt(numbers: list[int], target: int) -> str:
    """User message for Countdown: reach `target` using each of `numbers` once with + - * / and parentheses."""
    return "Countdown: " + " ".join(map(countdown_field, numbers)) + " -> " + countdown_field(target)


def countdown_answer(expression: str) -> str:
    return "\\boxed{" + expression + "}"
