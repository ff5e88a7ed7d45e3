"""`mdlm-eval audit`: every check passes on the toy, and each fails on a fault planted in the decode or the scorer."""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest

from mdlm_eval import audit as audit_module
from mdlm_eval.audit import Outcome, audit, read_outcome
from mdlm_eval.runner import RunConfig, run_dir
from tests.cli_helpers import run_cli

# one step per block of 8: the prefix cache is exact, so the cache check runs
TOY = RunConfig(decoder="semi_ar", steps=4, block_length=8, cache="prefix", limit=2)
CHECKS = ["batch", "processes", "cache", "resume", "rescore", "zero metric", "masks left", "no answer"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> tuple[list, Path]:
    """The audit of the toy, for real (one process: two are tested in test_run.py and below)."""
    work = tmp_path_factory.mktemp("audit")
    return audit(TOY, batch_size=2, processes=False, workdir=work), work


def test_every_check_passes_on_the_toy(toy) -> None:
    checks, _ = toy
    assert [c.name for c in checks] == CHECKS
    assert {c.name: c.ok for c in checks} == {**dict.fromkeys(CHECKS, True), "processes": None}
    by = {c.name: c.detail for c in checks}
    assert by["batch"] == "batch 1 against batch 2: all 4 generations identical"
    assert by["cache"] == "cache=prefix against none: all 4 generations identical"
    assert by["resume"].startswith("resumed (2 of 4 samples from the store)")
    assert by["masks left"] == "no sample holds <|mdm_mask|>"


def planted(outcome: Outcome, fault: str) -> Outcome:
    """A copy of a real outcome with one fault: a changed generation, a zero metric, masks left, no answers."""
    bad = copy.deepcopy(outcome)
    rows = bad.samples["mdlm_toy_countdown"]
    first = next(iter(rows.values()))
    if fault == "generation":
        first["resps"] = [["\\boxed{1+1}"]]
    for row in rows.values():
        if fault == "zero":
            row["acc"] = 0
        if fault == "masks":
            row["resps"] = [[row["resps"][0][0] + "<|mdm_mask|>"]]
        if fault == "no answer":
            row["filtered_resps"] = ["I do not know"]
    return bad


@pytest.mark.parametrize("check, fault", [("batch", "batch"), ("processes", "processes"), ("cache", "cache"),
                                          ("resume", "resume"), ("rescore", "scorer"), ("zero metric", "zero"),
                                          ("masks left", "masks"), ("no answer", "no answer")])
def test_each_check_fails_on_its_planted_fault(toy, check, fault, monkeypatch, tmp_path) -> None:
    _, work = toy
    real = {name: read_outcome(run_dir(dataclasses.replace(TOY, output_path=str(work / name), **changes)))
            for name, changes in (("batch", {"batch_size": 2}), ("batch1", {"batch_size": 1}),
                                  ("uncached", {"batch_size": 2, "cache": "none"}), ("resume", {"batch_size": 2}))}

    def decode(config: RunConfig) -> Outcome:  # the run a config asks for, with the fault where it is planted
        name = Path(config.output_path).name
        outcome = real.get(name, real["batch"])  # two processes: the one-process outcome
        if (fault, name) in (("batch", "batch1"), ("cache", "uncached"), ("resume", "resume")):
            return planted(outcome, "generation")
        return planted(outcome, fault) if fault in ("zero", "masks", "no answer") else outcome

    monkeypatch.setattr(audit_module, "evaluate", decode)
    monkeypatch.setattr(audit_module, "two_processes", lambda config: planted(real["batch"], "generation")
                        if fault == "processes" else decode(config))
    if fault == "scorer":  # the rescorer's Countdown scorer disagrees with the one lm-eval ran
        from mdlm_eval.scoring import countdown

        monkeypatch.setattr(countdown, "process_results", lambda doc, results: {"acc": 0, "acc_exact": 0})
    checks = {c.name: c for c in audit(TOY, batch_size=2, processes=True, workdir=tmp_path)}
    assert checks[check].ok is False, checks[check].line()
    assert [name for name, c in checks.items() if c.ok is False] == [check]
    assert ("differ" in checks[check].detail) == (check in ("batch", "processes", "cache", "resume"))


def test_a_failed_check_exits_1_and_prints_one_line_per_check(toy, monkeypatch, capsys) -> None:
    _, work = toy
    real = {name: read_outcome(run_dir(dataclasses.replace(TOY, output_path=str(work / name), batch_size=2)))
            for name in ("batch", "resume")}
    monkeypatch.setattr(audit_module, "evaluate", lambda config: planted(
        real["resume" if Path(config.output_path).name == "resume" else "batch"], "masks"))
    code, out, _ = run_cli(monkeypatch, capsys, "audit", "--decoder", "semi_ar", "--limit", "2", "--batch-size", "2",
                           "--no-processes")
    lines = out.strip().splitlines()
    assert code == 1 and len(lines) == len(CHECKS) + 1
    assert lines[CHECKS.index("masks left")].startswith("FAIL  masks left   2 of 4 samples still hold <|mdm_mask|>")
    assert lines[-1] == "audit: 5 passed, 1 failed, 2 skipped"


def test_an_audit_without_a_batch_to_compare_is_one_line(monkeypatch, capsys) -> None:
    code, out, err = run_cli(monkeypatch, capsys, "audit", "--batch-size", "1")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == ["mdlm-eval: error: the audit compares batch size 1 against a batch; "
                                        "--batch-size must be at least 2, got 1"]
