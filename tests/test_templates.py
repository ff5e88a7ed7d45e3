"""Prompt templates: the default is today's prompt byte for byte, the others ask for the same answer format; a
template is part of a run's identity (folder, sweep cell, leaderboard row); the leaderboard flags ranking flips."""
from __future__ import annotations

from pathlib import Path

import pytest

from mdlm_eval import templates
from mdlm_eval.errors import UsageError
from mdlm_eval.runner import RunConfig, run_dir
from mdlm_eval.scoring import countdown, gsm8k, math500, sudoku
from tests.cli_helpers import run_cli
from tests.test_leaderboard import table_rows, write_run

DOCS = {
    "mdlm_gsm8k": {"question": "Tom has 3 apples and buys 4. How many now?", "answer": 7.0},
    "mdlm_math500": {"problem": "What is $1+1$?", "answer": "2"},
    "mdlm_countdown": {"numbers": [3, 5, 7], "target": 22, "question": "Numbers: [3, 5, 7]\nTarget: 22"},
    "mdlm_sudoku": {"puzzle": "4320004330100004", "solution": "4321124334122134",
                    "question": "Solve the following Sudoku puzzle: 4320004330100004\n"},
    "mdlm_toy_countdown": {"numbers": [49, 55, 53], "target": 51},
    "mdlm_toy_sudoku": {"puzzle": "4320004330100004"},
}
DOCS["mdlm_sudoku_spg"] = DOCS["mdlm_sudoku"]  # SPG's split, d1's prompts
DEFAULTS = {"mdlm_gsm8k": gsm8k.doc_to_text, "mdlm_math500": math500.doc_to_text,
            "mdlm_countdown": countdown.doc_to_text, "mdlm_sudoku": sudoku.doc_to_text, "mdlm_sudoku_spg": sudoku.doc_to_text}


def test_every_task_has_three_templates_and_the_default_is_todays_prompt() -> None:
    assert set(templates.registry()) == set(templates.TASKS) == set(DOCS) and set(templates.GROUPS["mdlm_toy"]) <= set(DOCS)
    for task, doc in DOCS.items():
        assert list(templates.registry()[task]) == templates.NAMES
        default = getattr(templates, task)(doc)  # what the task YAML calls
        if task in DEFAULTS:
            assert default == DEFAULTS[task](doc)
        prompts = {name: render(doc) for name, render in templates.registry()[task].items()}
        assert len(set(prompts.values())) == 3  # three different wordings
        for name, text in prompts.items():
            with templates.use(name):
                assert getattr(templates, task)(doc) == text
    assert templates.mdlm_toy_countdown(DOCS["mdlm_toy_countdown"]) == "Countdown:  49  55  53 ->  51"
    assert templates.mdlm_toy_sudoku(DOCS["mdlm_toy_sudoku"]) == "Sudoku 4x4: 4320004330100004"


@pytest.mark.parametrize("task", ["mdlm_gsm8k", "mdlm_math500", "mdlm_countdown", "mdlm_sudoku"])
def test_the_other_templates_ask_for_the_same_answer_format(task) -> None:
    doc = DOCS[task]
    question = doc.get("question", doc.get("problem"))
    for name in ("plain", "question_first"):
        text = templates.registry()[task][name](doc)
        assert question in text and "<answer>" in text and "</answer>" in text
        assert ("\\boxed{" in text) == (task != "mdlm_sudoku")
        assert ("16-character solution string" in text) == (task == "mdlm_sudoku")


def test_template_names_resolve_and_bad_ones_are_one_line(monkeypatch, capsys) -> None:
    assert templates.resolve("all", ["mdlm_toy"]) == ["default", "plain", "question_first"]
    assert templates.resolve(None, ["gsm8k"]) == ["default"]
    with pytest.raises(UsageError, match="unknown template fancy; choose from default, plain, question_first or all"):
        templates.resolve("plain,fancy", ["mdlm_toy"])
    code, out, err = run_cli(monkeypatch, capsys, "run", "--templates", "fancy")
    assert code == 2 and err.strip().splitlines() == [
        "mdlm-eval: error: unknown template fancy; choose from default, plain, question_first or all"]
    code, out, err = run_cli(monkeypatch, capsys, "run", "--tasks", "gsm8k", "--templates", "all")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("mdlm-eval: error: --templates needs the project's tasks; gsm8k has no templates")


def test_a_template_is_part_of_the_run_folder_and_of_a_sweep_cell(tmp_path: Path) -> None:
    from mdlm_eval.sweep import load_grid, plan_cells

    assert run_dir(RunConfig(decoder="eoser")).name == "eoser_steps-half_L32"
    assert run_dir(RunConfig(decoder="eoser", template="plain")).name == "eoser_steps-half_L32_tpl-plain"
    grid = tmp_path / "grid.yaml"
    grid.write_text("models: [toy]\ndecoders: [semi_ar]\nsteps: [half]\ngen_lengths: [32]\ntasks: [mdlm_toy]\n"
                    "templates: all\n")
    cells = plan_cells(load_grid(grid))
    assert [c.config.template for c in cells] == ["default", "plain", "question_first"]
    assert len({c.folder for c in cells}) == 3 and cells[1].label.endswith("template=plain")
    grid.write_text(grid.read_text().replace("templates: all", "templates: [plain, fancy]"))
    with pytest.raises(UsageError, match="unknown template fancy"):
        load_grid(grid)


def test_the_leaderboard_keys_rows_by_template_and_flags_ranking_flips(tmp_path: Path) -> None:
    from mdlm_eval.leaderboard import build_leaderboard

    root = tmp_path / "results"
    for decoder, scores in (("aaa", {"default": 0.6, "plain": 0.3, "question_first": 0.5}),
                            ("bbb", {"default": 0.4, "plain": 0.5, "question_first": 0.45})):
        for template, value in scores.items():
            write_run(root, decoder=decoder, scores={"toy_countdown": value}, nfe=16, folder=f"{decoder}_{template}",
                      manifest={"template": template})
    build_leaderboard(root, tmp_path / "out", reference_dir=None)
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    header, rows = table_rows(md, "toy_countdown")
    assert "template" in header and len(rows) == 6  # a row per decoder and template
    header, rows = table_rows(md, "toy_countdown/acc across prompt templates")
    assert header == ["setting", "default", "plain", "question_first", "mean", "spread", "flips"]
    assert rows == [["aaa steps=16", "60.00", "30.00", "50.00", "46.67", "30.00", "1"],
                    ["bbb steps=16", "40.00", "50.00", "45.00", "45.00", "10.00", "1"]]
    assert "Ranking flips (1;" in md and ("aaa steps=16 / bbb steps=16 (default: aaa steps=16 - bbb steps=16 = +20.00; plain: aaa steps=16 - "
                                               "bbb steps=16 = -20.00)") in md
