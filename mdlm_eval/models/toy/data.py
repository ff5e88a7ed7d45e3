"""Seeded generators and exact verifiers for the toy's two tasks: 4x4 Sudoku and 3-number Countdown.

Held out by construction: every generated item whose fingerprint is in `heldout.HELDOUT` (the sha256 prefixes of
all 500 puzzles of d1's `4x4_test_sudoku.csv` and all 256 problems of `countdown_cd3_test.jsonl`) is rejected, so
the toy never trains on a d1 test item. `heldout_fingerprints(data_dir)` recomputes that set from the test files
(a test checks that it matches the stored one).
"""
from __future__ import annotations

import csv
import hashlib
import itertools
import json
import random
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np

from .heldout import HELDOUT
from .prompts import countdown_field

# ---------------------------------------------------------------- fingerprints


def sudoku_fingerprint(puzzle: str) -> str:
    return hashlib.sha256(f"sudoku:{puzzle}".encode()).hexdigest()[:12]


def countdown_fingerprint(numbers, target) -> str:
    """Order-free: a problem with the same numbers in another order is the same problem."""
    key = ",".join(str(int(n)) for n in sorted(numbers))
    return hashlib.sha256(f"countdown:{key}->{int(target)}".encode()).hexdigest()[:12]


def heldout_fingerprints(data_dir: str | Path) -> frozenset[str]:
    """Fingerprints of every item in d1's Sudoku (500) and Countdown (256) test files under `data_dir`."""
    data_dir = Path(data_dir)
    out = set()
    with open(data_dir / "sudoku_4x4_test.csv") as f:
        for row in csv.DictReader(f):
            out.add(sudoku_fingerprint(row["Puzzle"].strip()))
    with open(data_dir / "countdown_cd3_test.jsonl") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                out.add(countdown_fingerprint([int(x) for x in row["input"].split(",")], int(row["output"])))
    return frozenset(out)


# ---------------------------------------------------------------- sudoku


@lru_cache(maxsize=1)
def all_sudoku_grids() -> np.ndarray:
    """All 288 solved 4x4 grids, [288, 16] uint8 with digits 1-4, row by row."""
    rows = list(itertools.permutations([1, 2, 3, 4]))
    grids = []
    for r0, r1, r2, r3 in itertools.product(rows, repeat=4):
        g = np.array([r0, r1, r2, r3])
        if any(len(set(g[:, c])) < 4 for c in range(4)):
            continue
        if any(len(set(g[br:br + 2, bc:bc + 2].ravel())) < 4 for br in (0, 2) for bc in (0, 2)):
            continue
        grids.append(g.ravel())
    return np.array(grids, dtype=np.uint8)


def sudoku_solutions(puzzle: str) -> list[str]:
    """Every solved grid consistent with the clues of `puzzle` (16 digits, 0 = empty)."""
    p = np.array([int(c) for c in puzzle], dtype=np.uint8)
    given = p > 0
    ok = (all_sudoku_grids()[:, given] == p[given]).all(axis=1)
    return ["".join(map(str, g)) for g in all_sudoku_grids()[ok]]


def is_valid_sudoku_solution(puzzle: str, solution: str) -> bool:
    """`solution` is a solved grid that keeps every clue of `puzzle`."""
    if len(solution) != 16 or not solution.isdigit():
        return False
    return solution in set(sudoku_solutions(puzzle))


def generate_sudoku(rng: random.Random, clues: int = 8) -> tuple[str, str]:
    """A (puzzle, solution) with exactly `clues` givens and a unique solution, not in d1's test set."""
    grids = all_sudoku_grids()
    while True:
        g = grids[rng.randrange(len(grids))]
        cells = rng.sample(range(16), clues)
        p = np.zeros(16, dtype=np.uint8)
        p[cells] = g[cells]
        puzzle = "".join(map(str, p))
        sols = sudoku_solutions(puzzle)
        if len(sols) == 1 and sudoku_fingerprint(puzzle) not in HELDOUT:
            return puzzle, sols[0]


# ---------------------------------------------------------------- countdown

_OPS = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y,
        "/": lambda x, y: x / y if y != 0 else None}


def countdown_solutions(numbers: list[int]) -> dict[int, str]:
    """Integer value in 1..100 -> one canonical expression using each number once.

    Every number is written as the prompt writes it (`prompts.countdown_field`), so the answer copies each digit
    from a fixed place. Preference order (the first found is kept): sums and differences, every number in prompt
    order behind its sign ("+ 30-100+ 93" for 30 100 93 -> 23); then two-operation forms with * and / in a fixed
    order. Division is exact (Fractions), so every kept expression evaluates to its value exactly.
    """
    out: dict[int, str] = {}
    n = [int(x) for x in numbers]
    w = {x: countdown_field(x) for x in n}
    # 1) +/- only: a sign in front of every number, prompt order
    for signs in itertools.product("+-", repeat=len(n)):
        value = sum(x if s == "+" else -x for s, x in zip(signs, n))
        if 1 <= value <= 100 and value not in out:
            out[value] = "".join(s + w[x] for s, x in zip(signs, n))
    # 2) forms with * or /: (a o1 b) o2 c and a o1 (b o2 c) over orderings
    for a, b, c in itertools.permutations(n):
        wa, wb, wc = w[a], w[b], w[c]
        for o1, o2 in itertools.product("+-*/", repeat=2):
            if o1 in "+-" and o2 in "+-":
                continue
            for left in (True, False):
                try:
                    if left:
                        v = _OPS[o2](_OPS[o1](Fraction(a), Fraction(b)), Fraction(c))
                        need = o1 in "+-" and o2 in "*/"
                        expr = f"({wa}{o1}{wb}){o2}{wc}" if need else f"{wa}{o1}{wb}{o2}{wc}"
                    else:
                        v = _OPS[o1](Fraction(a), _OPS[o2](Fraction(b), Fraction(c)))
                        need = not (o1 in "+" or (o1 in "-*" and o2 in "*/") or (o1 == "*" and o2 == "*"))
                        expr = f"{wa}{o1}({wb}{o2}{wc})" if need else f"{wa}{o1}{wb}{o2}{wc}"
                except TypeError:  # division by zero gave None
                    continue
                if v is None or v.denominator != 1:
                    continue
                v = int(v)
                if 1 <= v <= 100 and v not in out and countdown_value(expr) == v:
                    out[v] = expr
    return out


def countdown_value(expression: str):
    """Exact value of an expression of integers, + - * / and parentheses (None if malformed or /0)."""
    if not expression or any(ch not in "0123456789+-*/() " for ch in expression):
        return None
    import re
    try:
        v = eval(re.sub(r"(\d+)", r"Fraction(\1)", expression), {"__builtins__": {}}, {"Fraction": Fraction})
    except Exception:
        return None
    return v


def is_valid_countdown(numbers: list[int], target: int, expression: str) -> bool:
    """`expression` uses each number exactly once and evaluates exactly to `target`."""
    import re
    used = sorted(int(x) for x in re.findall(r"\d+", expression or ""))
    if used != sorted(int(x) for x in numbers):
        return False
    v = countdown_value(expression)
    return v is not None and v == target


def generate_countdown(rng: random.Random) -> tuple[list[int], int, str]:
    """(numbers, target, expression): three numbers uniform in 1..100, a target uniform among the reachable
    integers in 1..100 (the distribution of d1's cd3 set: 90% reachable with + and - only), not in d1's test set."""
    while True:
        numbers = [rng.randint(1, 100) for _ in range(3)]
        sols = countdown_solutions(numbers)
        if not sols:
            continue
        target = rng.choice(sorted(sols))
        if countdown_fingerprint(numbers, target) not in HELDOUT:
            return numbers, target, sols[target]


def generate_sudoku_batch(rng: np.random.Generator, n: int, clues: int = 8) -> list[tuple[str, str]]:
    """`n` (puzzle, solution) pairs as `generate_sudoku`, vectorised: candidates with a unique solution that are
    not held out are kept, drawn again until there are `n`."""
    grids = all_sudoku_grids()
    out: list[tuple[str, str]] = []
    while len(out) < n:
        m = 2 * (n - len(out)) + 8
        g = grids[rng.integers(0, len(grids), size=m)]
        given = np.argsort(rng.random((m, 16)), axis=1)[:, :clues]
        mask = np.zeros((m, 16), dtype=bool)
        np.put_along_axis(mask, given, True, axis=1)
        match = ((grids[None, :, :] == g[:, None, :]) | ~mask[:, None, :]).all(axis=2).sum(axis=1)
        for i in np.nonzero(match == 1)[0]:
            puzzle = "".join(str(int(v)) for v in np.where(mask[i], g[i], 0))
            if sudoku_fingerprint(puzzle) not in HELDOUT:
                out.append((puzzle, "".join(str(int(v)) for v in g[i])))
            if len(out) == n:
                break
    return out
