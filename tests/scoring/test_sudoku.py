"""Sudoku: d1's grid reader and cell accuracy, whole-grid success."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdlm_eval.scoring import sudoku

DETERMINISTIC = settings(derandomize=True, deadline=None, max_examples=500)
DOC = {"puzzle": "4320004330100004", "solution": "4321124334122134"}  # 8 blanks


def d1_grid(text: str) -> str:
    """The oracle: d1's five regular expressions, tried in order, as parse_sudoku_answers applies them."""
    patterns = [
        r"<answer>.*?```\s*([\d\s]+)```",
        r"<answer>(.*?)(?:<\|eot_id\|>|<\|endoftext\|>|</answer>)",
        r"</answer>\s*(.*?)(?:<\|eot_id\|>|<\|endoftext\|>|$)",
        r".*?(\d{16})\s*</answer>",
        r"\b(\d{16})\b",
    ]
    for pattern in patterns:
        match = re.search(pattern, text, re.DOTALL)
        if match and match.group(1).strip():
            grid = re.sub(r"\s", "", match.group(1).strip())
            return grid[:16].ljust(16, "0")
    return ""


tokens = st.sampled_from(
    ["<answer>", "</answer>", "```", "<|eot_id|>", "<|endoftext|>", "1234", "4321", "12", "3", " ", "\n", "x",
     "1234123412341234", "\u0663", "`"]
)  # fmt: skip


@DETERMINISTIC
@given(st.lists(tokens, max_size=16).map("".join))
def test_extract_grid_is_d1s_regex_sequence(text: str) -> None:
    assert sudoku.extract_grid(text) == d1_grid(text)


@pytest.mark.parametrize(
    ("text", "acc", "solved"),
    [
        ("<answer>\n4321124334122134\n</answer><|eot_id|>", (8, 8), 1),
        ("<answer>\n4321\n1243\n3412\n2134\n</answer>", (8, 8), 1),
        ("<answer>\n```\n4321 1243 3412 2134\n```\n</answer>", (8, 8), 1),
        ("<answer>\n4321124334122143\n</answer>", (7, 8), 0),
        ("<answer>\n43211243\n</answer>", (3, 8), 0),  # padded with 0
        ("<answer>\n[4,3,2,1],[1,2,4,3],[3,4,1,2],[2,1,3,4]\n</answer>", (1, 8), 1),  # d1 reads `[4,3,2,1],[1,2,4`
        ("the grid 4321124334122134 is done", (8, 8), 1),
        ("<answer>\n4321124334122134\n</answer><|eot_id|><answer>1111</answer>", (8, 8), 1),
        ("", (0, 8), 0),
    ],
)
def test_cell_accuracy_and_solved(text: str, acc: tuple[int, int], solved: int) -> None:
    assert sudoku.process_results(DOC, [text]) == {"acc": acc, "solved": solved}


def test_solved_needs_a_valid_grid_that_keeps_the_givens() -> None:
    other_solution = "1234341221434321"  # valid, but not the puzzle's
    assert sudoku.solved(DOC, f"<answer>{other_solution}</answer>") == 0
    assert sudoku.solved({"puzzle": "0" * 16, "solution": DOC["solution"]}, f"<answer>{other_solution}</answer>") == 1
    assert sudoku.solved({"puzzle": "0" * 16, "solution": "1" * 16}, "<answer>1234123412341234</answer>") == 0


def test_cell_accuracy_is_the_micro_average() -> None:
    assert sudoku.cell_accuracy([(8, 8), (0, 8), (1, 4)]) == 9 / 20
    assert sudoku.cell_accuracy([]) == 0.0


def test_cell_accuracy_stderr_is_clustered_by_puzzle() -> None:
    # by hand: r = 9/20; residuals c_i - r n_i = 4.4, -3.6, -0.8; squares sum to 32.96;
    # sqrt(32.96 / (3 * 2)) = 2.343786; mean n_i = 20/3; SE = 2.343786 / 6.666667 = 0.351568
    assert sudoku.cell_accuracy_stderr([(8, 8), (0, 8), (1, 4)]) == pytest.approx(0.351568, abs=1e-6)
    # equal puzzle sizes: the SE of the mean of the per-puzzle accuracies (lm-eval's mean_stderr)
    from lm_eval.api.metrics import mean_stderr

    items = [(4, 4), (2, 4), (0, 4), (3, 4), (4, 4)]
    assert sudoku.cell_accuracy_stderr(items) == pytest.approx(mean_stderr([c / n for c, n in items]))
    # cells counted as independent would understate it: all-or-nothing puzzles
    lumpy = [(8, 8), (0, 8), (8, 8), (0, 8)]
    binomial = (0.5 * 0.5 / 32) ** 0.5
    assert sudoku.cell_accuracy_stderr(lumpy) > 2 * binomial


def test_lm_eval_reports_the_cell_accuracy_stderr() -> None:
    from lm_eval import evaluator_utils
    from lm_eval.api.metrics import mean, mean_stderr

    items = [(8, 8), (0, 8), (1, 4)]
    stderr = evaluator_utils.stderr_for_metric(sudoku.cell_accuracy, bootstrap_iters=100)
    assert stderr(items) == pytest.approx(0.351568, abs=1e-6)
    assert evaluator_utils.stderr_for_metric(mean, bootstrap_iters=100) is mean_stderr
    assert evaluator_utils.stderr_for_metric(sudoku.cell_accuracy, bootstrap_iters=0) is None
