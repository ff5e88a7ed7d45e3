"""Sweeps: grid validation before any run, dry-run listing with NFE, skipping complete cells, going on after failures."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mdlm_eval import sweep
from mdlm_eval.errors import UsageError
from mdlm_eval.runner import run_dir
from tests.cli_helpers import run_cli

REPO = Path(__file__).resolve().parents[1]
TOY = """
models: [toy]
decoders: [semi_ar, eoser_ass]
steps: [half, log]
gen_lengths: [32]
tasks: [mdlm_toy]
limit: 4
exclude:
  - {decoder: eoser_ass, steps: half}
"""


def grid_file(tmp_path: Path, text: str = TOY) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return path


def cells_of(tmp_path: Path, text: str = TOY) -> list[sweep.Cell]:
    return sweep.plan_cells(sweep.load_grid(grid_file(tmp_path, text)), str(tmp_path / "results"))


def test_cells_expand_the_grid_minus_exclusions(tmp_path: Path) -> None:
    cells = cells_of(tmp_path)
    assert [(c.config.decoder, c.config.steps, c.nfe_per_sample) for c in cells] == [
        ("semi_ar", "half", 16), ("semi_ar", "log", 5), ("eoser_ass", "log", 5)]
    first = cells[0].config
    assert (first.model, first.gen_length, first.tasks, first.limit, first.output_path) == (
        "toy", 32, ["mdlm_toy"], 4, str(tmp_path / "results"))
    assert cells[0].folder == run_dir(first)


def test_models_with_adapters_and_decoder_overrides(tmp_path: Path) -> None:
    text = TOY.replace("models: [toy]", "models: [toy, {path: /ckpt/llada, peft: /ckpt/d1}]").replace(
        "decoders: [semi_ar, eoser_ass]", "decoders: [{preset: semi_ar, block_length: 8}, eoser_ass]")
    cells = cells_of(tmp_path, text)
    assert len(cells) == 6
    adapted = [c for c in cells if c.config.peft == "/ckpt/d1"]
    assert len(adapted) == 3 and adapted[0].config.model == "/ckpt/llada"
    assert cells[0].config.block_length == 8 and cells[0].label == "toy semi_ar(block_length=8) steps=half L=32"
    assert len({c.folder for c in cells}) == 6


@pytest.mark.parametrize("change, message", [
    (("tasks: [mdlm_toy]", "tasks: [mdlm_toy]\nstep: [log]"), "unknown key step"),
    (("tasks: [mdlm_toy]\n", ""), "missing key tasks"),
    (("[semi_ar, eoser_ass]", "[semi_ar, eoser-ass]"), "unknown decoder 'eoser-ass'"),
    (("[semi_ar, eoser_ass]", "[semi_ar, {preset: ass, block_len: 4}]"), "unknown key block_len"),
    (("  - {decoder: eoser_ass, steps: half}\n", ""), "cell toy eoser_ass steps=half L=32: ascending step sizes"),
    (("steps: [half, log]", "steps: [half, 100]"), "cell toy semi_ar steps=100 L=32: steps must be between"),
    (("steps: [half, log]", "steps: [half, quarter]"), "steps entries must be a positive integer or one of"),
    (("gen_lengths: [32]", "gen_lengths: [0]"), "gen_lengths must be >= 1"),
    (("gen_lengths: [32]", "gen_lengths: [30]"), "cell toy semi_ar steps=half L=30: block_length 32 must be a positive divisor"),
    (("{decoder: eoser_ass, steps: half}", "{decoder: eoser_ass, steps: [half, full]}\n  - {decoder: eoserass}"),
     "exclude rule 2 {'decoder': ['eoserass']} matches no cell"),
    (("{decoder: eoser_ass, steps: half}", "{decoders: eoser_ass}"), "exclude rule 1: unknown key decoders"),
    (("models: [toy]", "models: [{name: toy, path: /x}]"), "needs exactly one of name, path"),
    (("models: [toy]", "models: []"), "models must be a non-empty list"),
    (("limit: 4", "limit: 0"), "limit must be"),
    (("limit: 4", "limit: 4\ntrace: yes please"), "trace must be true or false"),
    (("limit: 4", "limit: 4\nbatch_size: big"), "batch_size must be an integer"),
    (("decoders: [semi_ar, eoser_ass]", "decoders: [semi_ar, eoser_ass, semi_ar]"), "write to the same folder"),
])
def test_grid_mistakes_are_usage_errors_naming_the_problem(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in TOY
    with pytest.raises(UsageError) as error:
        cells_of(tmp_path, TOY.replace(old, new))
    assert message in str(error.value) and "grid.yaml" in str(error.value)


@pytest.mark.parametrize("text, message", [("models: [toy\n", "not valid YAML"), ("- toy\n", "must hold a mapping")])
def test_unreadable_grid_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        sweep.load_grid(grid_file(tmp_path, text))
    with pytest.raises(UsageError, match="does not exist"):
        sweep.load_grid(tmp_path / "nope.yaml")


@pytest.mark.parametrize("name, count, nfe", [
    ("toy.yaml", 20, {5, 16, 32}), ("d1_table.yaml", 3, {64, 128, 256}), ("eoser_ass.yaml", 10, {7, 8, 64, 128})])
def test_shipped_grids_are_valid(tmp_path: Path, name: str, count: int, nfe: set[int]) -> None:
    cells = sweep.plan_cells(sweep.load_grid(REPO / "sweeps" / name), str(tmp_path))
    assert len(cells) == count and {c.nfe_per_sample for c in cells} == nfe


def complete(folder: Path, limit: int | None = 4) -> None:
    """A finished run's manifest (the TOY grid runs 4 samples per task)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps({"status": "complete", "limit": limit}))


def fake_runs(monkeypatch, fail_on: str | None = None, write_manifest: bool = True) -> list:
    """Replace run_evaluation: record the config, fail for one decoder, else write a complete manifest."""
    calls = []

    def fake(config):
        calls.append(config)
        if config.decoder == fail_on:
            raise UsageError("model folder /nowhere does not exist")
        if write_manifest:
            complete(run_dir(config), config.limit)
        return {"status": "complete"}

    monkeypatch.setattr(sweep, "run_evaluation", fake)
    return calls


def test_complete_cells_are_skipped(tmp_path: Path, monkeypatch) -> None:
    cells = cells_of(tmp_path)
    complete(cells[1].folder)
    (cells[2].folder).mkdir(parents=True)
    (cells[2].folder / "manifest.json").write_text('{"status": "running"}')  # not complete: runs again
    calls = fake_runs(monkeypatch)
    result = sweep.run_sweep(cells)
    assert calls == [cells[0].config, cells[2].config]
    assert result.skipped == [cells[1]] and result.done == [cells[0], cells[2]] and not result.failed
    assert sweep.run_sweep(cells).skipped == cells  # the second time everything is complete


def test_a_limited_sweep_never_passes_for_the_full_one(tmp_path: Path, monkeypatch) -> None:
    """`limit: 4` then `limit: null`: the full cells run (their own folders), and the trials stay beside them."""
    limited = cells_of(tmp_path)
    full = cells_of(tmp_path, TOY.replace("limit: 4", "limit: null"))
    assert {c.folder for c in limited}.isdisjoint(c.folder for c in full)
    assert all(c.folder.name.endswith("_limit4") for c in limited)
    fake_runs(monkeypatch)
    assert len(sweep.run_sweep(limited).done) == 3
    result = sweep.run_sweep(full)
    assert not result.skipped and result.done == full
    assert all(sweep.is_complete(c.folder, c.config) for c in limited + full)
    complete(full[0].folder, limit=4)  # a trial's manifest where the full run belongs is not the full run
    assert not sweep.is_complete(full[0].folder, full[0].config)


def test_a_failed_cell_is_reported_and_the_rest_go_on(tmp_path: Path, monkeypatch) -> None:
    cells = cells_of(tmp_path)
    events = []
    calls = fake_runs(monkeypatch, fail_on="semi_ar")
    result = sweep.run_sweep(cells, lambda i, cell, event, detail: events.append((i, event)))
    assert len(calls) == 3 and result.done == [cells[2]]
    message = "model folder /nowhere does not exist"
    assert result.failed == [(cells[0], message), (cells[1], message)]
    assert events == [(0, "running"), (0, "failed"), (1, "running"), (1, "failed"), (2, "running"), (2, "done")]


def test_a_run_that_leaves_no_manifest_counts_as_failed(tmp_path: Path, monkeypatch) -> None:
    cells = cells_of(tmp_path)[:1]
    fake_runs(monkeypatch, write_manifest=False)
    result = sweep.run_sweep(cells)
    assert len(result.failed) == 1 and "without a complete manifest" in result.failed[0][1]


def test_cli_dry_run_lists_cells_and_nfe_without_running(tmp_path: Path, monkeypatch, capsys) -> None:
    cells = cells_of(tmp_path)
    complete(cells[0].folder)
    calls = fake_runs(monkeypatch)
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run_cli(monkeypatch, capsys, "sweep", str(grid_file(tmp_path)), "--dry-run",
                           "--output-path", str(tmp_path / "results"))
    assert code == 0 and calls == []
    lines = out.splitlines()
    assert lines[0].split() == ["#", "cell", "NFE/sample", "status", "folder"] and len(lines) == 4
    assert lines[1].split()[-3:] == ["16", "complete", str(cells[0].folder)]
    assert "toy eoser_ass steps=log L=32" in lines[3] and lines[3].split()[-4:-1] == ["5", "to", "run"]
    monkeypatch.setenv("COLUMNS", "80")  # a block of lines per cell, every number whole
    code, out, _ = run_cli(monkeypatch, capsys, "sweep", str(grid_file(tmp_path)), "--dry-run",
                           "--output-path", str(tmp_path / "results"))
    lines = out.splitlines()
    assert code == 0 and lines[0] == "1  toy semi_ar steps=half L=32"
    assert lines[1:3] == ["  NFE/sample: 16  status: complete", f"  folder: {cells[0].folder}"]  # a path stays whole
    assert "  NFE/sample: 5  status: to run" in out and all(len(l) <= 80 for l in out.splitlines() if "folder:" not in l)


def test_cli_sweep_exits_nonzero_after_a_failure(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sweep, "check_tasks", lambda grid: None)  # lm-eval's task index takes seconds to build
    calls = fake_runs(monkeypatch, fail_on="eoser_ass")
    code, out, err = run_cli(monkeypatch, capsys, "sweep", str(grid_file(tmp_path)),
                             "--output-path", str(tmp_path / "results"))
    assert code == 1 and len(calls) == 3
    assert "2 run, 0 skipped (complete), 1 failed" in out
    assert "cell toy eoser_ass steps=log L=32 failed: model folder /nowhere does not exist" in err


def test_cli_invalid_grid_exits_2_before_running(tmp_path: Path, monkeypatch, capsys) -> None:
    calls = fake_runs(monkeypatch)
    code, _, err = run_cli(monkeypatch, capsys, "sweep", str(grid_file(tmp_path, TOY.replace("  - {decoder: eoser_ass, steps: half}\n", ""))))
    assert code == 2 and calls == [] and "eoser_ass steps=half" in err and err.count("\n") == 1


def test_toy_sweep_end_to_end_then_leaderboard(tmp_path: Path) -> None:
    """Real toy runs (one traced cell, 2 samples per task): complete once, skipped the second time, on the board."""
    from mdlm_eval.leaderboard import build_leaderboard

    grid = TOY.replace("decoders: [semi_ar, eoser_ass]", "decoders: [eoser_ass]").replace(
        "steps: [half, log]", "steps: [log]").replace("limit: 4", "limit: 2\ntrace: true").replace(
        "exclude:\n  - {decoder: eoser_ass, steps: half}\n", "")
    cells = cells_of(tmp_path, grid)
    assert len(cells) == 1
    assert sweep.run_sweep(cells).done == cells
    assert sweep.run_sweep(cells).skipped == cells
    build_leaderboard(tmp_path / "results", tmp_path / "board", reference_dir=None)
    board = (tmp_path / "board" / "leaderboard.csv").read_text().splitlines()
    assert len(board) == 2 and board[1].startswith("toy,mdlm_toy,,eoser_ass,5,32,,") and "mdlm_toy_sudoku/acc" in board[0]
    assert (tmp_path / "board" / "leaderboard_plots" / "order_toy_eoser_ass_steps_5_L_32.png").is_file()


def test_block_causal_cells_plan_a_range_of_blocks() -> None:
    """A row of a block-causal model decodes ceil(L / B) blocks or one more (its blocks start at its first prompt
    token): 4 or 5 blocks of 8 at L = 32."""
    from mdlm_eval.decoding import load_spec

    assert sweep.cell_nfe(load_spec("semi_ar").with_overrides(block_length=8), 32, 8) == "16-20"
    assert sweep.cell_nfe(load_spec("semi_ar"), 32, 8) == "16-32"  # the decoder names blocks of 32: 1 or 2
    assert sweep.cell_nfe(load_spec("eoser_ass"), 32, 8) == "12-15"  # floor(log2 8) = 3 passes a block
    assert sweep.cell_nfe(load_spec("llada2"), 32, 8) == "adaptive"
    assert sweep.cell_nfe(load_spec("semi_ar").with_overrides(block_length=8), 32, None) == 16
