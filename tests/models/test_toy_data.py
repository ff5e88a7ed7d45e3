"""The toy's data: valid unique-solution Sudoku, solvable Countdown, nothing from d1's test sets."""
import csv
import json
import os
import random
import re
from pathlib import Path

import numpy as np
import pytest

from mdlm_eval.models.toy import data, prompts
from mdlm_eval.models.toy.heldout import HELDOUT

DATA_DIR = Path(os.environ.get("MDLM_EVAL_DATA_DIR", ""))
HAVE_DATA = (DATA_DIR / "sudoku_4x4_test.csv").is_file() and (DATA_DIR / "countdown_cd3_test.jsonl").is_file()


def test_there_are_288_grids_and_they_are_valid():
    grids = data.all_sudoku_grids()
    assert grids.shape == (288, 16) and len({g.tobytes() for g in grids}) == 288
    for g in grids[:20]:
        gg = g.reshape(4, 4)
        assert all(sorted(gg[i]) == [1, 2, 3, 4] and sorted(gg[:, i]) == [1, 2, 3, 4] for i in range(4))


def test_generated_sudoku_is_valid_with_a_unique_solution():
    pairs = data.generate_sudoku_batch(np.random.default_rng(0), 200) + [data.generate_sudoku(random.Random(0))]
    for puzzle, solution in pairs:
        assert puzzle.count("0") == 8
        assert data.sudoku_solutions(puzzle) == [solution]
        assert data.is_valid_sudoku_solution(puzzle, solution)
        assert data.sudoku_fingerprint(puzzle) not in HELDOUT
    assert not data.is_valid_sudoku_solution(pairs[0][0], "1" * 16)


def test_generators_are_seeded():
    assert data.generate_sudoku_batch(np.random.default_rng(3), 5) == data.generate_sudoku_batch(np.random.default_rng(3), 5)
    assert [data.generate_countdown(random.Random(3)) for _ in range(3)] == [data.generate_countdown(random.Random(3)) for _ in range(3)]


def test_generated_countdown_is_solved_by_its_expression():
    rng = random.Random(0)
    for _ in range(300):
        numbers, target, expr = data.generate_countdown(rng)
        assert 1 <= target <= 100 and all(1 <= n <= 100 for n in numbers)
        assert data.is_valid_countdown(numbers, target, expr)
        assert data.countdown_fingerprint(numbers, target) not in HELDOUT
    assert not data.is_valid_countdown([1, 2, 3], 6, "1+2+2")
    assert not data.is_valid_countdown([1, 2, 3], 7, "1+2+3")
    assert data.is_valid_countdown([2, 3, 6], 1, "6/(2*3)")


def test_countdown_answers_write_each_number_as_the_prompt_does():
    """+/- answers are the prompt's three-character fields in prompt order, each behind its sign."""
    assert data.countdown_solutions([30, 100, 93])[23] == "+ 30-100+ 93"
    rng = random.Random(2)
    plus_minus = 0
    for _ in range(300):
        numbers, target, expr = data.generate_countdown(rng)
        fields = [f"{n:>3}" for n in numbers]
        assert prompts.countdown_prompt(numbers, target) == "Countdown: " + " ".join(fields) + f" -> {target:>3}"
        if re.fullmatch(r"([+-][ \d]{3}){3}", expr):
            assert [expr[1:4], expr[5:8], expr[9:12]] == fields
            plus_minus += 1
        else:
            assert "*" in expr or "/" in expr
    assert plus_minus >= 200  # 231 of these 300 need only + and -


@pytest.mark.skipif(not HAVE_DATA, reason="d1 test files not found under MDLM_EVAL_DATA_DIR")
def test_heldout_fingerprints_cover_the_d1_test_sets():
    assert data.heldout_fingerprints(DATA_DIR) == HELDOUT
    assert len(HELDOUT) == 500 + 256


def test_generators_reject_heldout_items(monkeypatch):
    """An item whose fingerprint is held out is never returned: the generator draws again."""
    numbers, target, _ = data.generate_countdown(random.Random(0))
    (puzzle, _), = data.generate_sudoku_batch(np.random.default_rng(0), 1)
    monkeypatch.setattr(data, "HELDOUT", HELDOUT | {data.countdown_fingerprint(numbers, target),
                                                    data.sudoku_fingerprint(puzzle)})
    n2, t2, _ = data.generate_countdown(random.Random(0))
    assert (sorted(n2), t2) != (sorted(numbers), target)
    assert data.generate_sudoku_batch(np.random.default_rng(0), 1)[0][0] != puzzle


@pytest.mark.skipif(not HAVE_DATA, reason="d1 test files not found under MDLM_EVAL_DATA_DIR")
def test_a_large_sample_shares_nothing_with_d1_test_sets():
    with open(DATA_DIR / "sudoku_4x4_test.csv") as f:
        test_puzzles = {r["Puzzle"] for r in csv.DictReader(f)}
    with open(DATA_DIR / "countdown_cd3_test.jsonl") as f:
        test_cd = {(tuple(sorted(int(x) for x in r["input"].split(","))), int(r["output"]))
                   for r in map(json.loads, f)}
    assert not {p for p, _ in data.generate_sudoku_batch(np.random.default_rng(1), 3000)} & test_puzzles
    rng = random.Random(1)
    sample = set()
    for _ in range(2000):
        n, t, _ = data.generate_countdown(rng)
        sample.add((tuple(sorted(n)), t))
    assert not sample & test_cd
