"""Tables that fit a terminal: `decoders`, `rescore`, `sweep --dry-run` at 80 and at 200 columns."""
import re

import pytest

from mdlm_eval.terminal import fit
from tests.cli_helpers import run_cli

HEADER = ["setup", "task", "acc (d1)", "robust"]
ROW = ["toy/semi_ar_steps-half_L32_bl8_limit6/mdlm_toy_sudoku_2026-12-04T04-32-27.831580", "sudoku", "77.08 (37/48)",
       "solved 50.00 (3/6)"]


def test_rows_that_fit_are_columns_else_blocks_with_every_value_whole():
    wide = fit(HEADER, [ROW], 200).splitlines()
    assert wide[0].split() == ["setup", "task", "acc", "(d1)", "robust"]
    assert wide[1].split() == [ROW[0], "sudoku", "77.08", "(37/48)", "solved", "50.00", "(3/6)"]
    narrow = fit(HEADER, [ROW], 80).splitlines()
    assert narrow == [ROW[0], "  task: sudoku  acc (d1): 77.08 (37/48)  robust: solved 50.00 (3/6)"]
    text = ["p", "1", "a long description " * 8]
    wrapped = fit(["name", "n", "what"], [text], 80).splitlines()  # the last column wraps in place
    assert wrapped[1].startswith("p     1  a long") and all(len(l) <= 80 for l in wrapped)
    assert all(l.startswith(" " * 9) for l in wrapped[2:])
    block = fit(["name", "n", "what"], [text], 30).splitlines()
    assert block[:2] == ["p", "  n: 1"] and all(len(l) <= 30 for l in block)


@pytest.mark.parametrize("columns", [80, 200])
def test_decoders_fits_the_terminal(monkeypatch, capsys, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, _ = run_cli(monkeypatch, capsys, "decoders")
    assert code == 0 and max(len(l) for l in out.splitlines()) <= columns
    if columns == 80:  # a block per preset: numbers whole on one line, the description wrapped below
        assert "ass\n  NFE at L=128: 7  NFE at L=256: 8  NFE at L=512: 9\n  what it is: Ascending step sizes" in out
    else:
        assert re.search(r"^ass +7 +8 +9 +Ascending step sizes", out, re.M)


@pytest.mark.parametrize("columns", [80, 200])
def test_rescore_table_shows_the_numbers(columns):
    from mdlm_eval.rescore import table

    setups = {ROW[0]: {"task": "sudoku", "accuracy": 77.083, "correct": 37, "total": 48,
                       "solved": {"accuracy": 50.0, "correct": 3, "total": 6}}}
    out = table(setups, columns)
    assert "77.08 (37/48)" in out and "solved 50.00 (3/6)" in out
    assert all(len(l) <= columns for l in out.splitlines()[1:])  # the setup name is the only line that may not
