"""Prompt templates: each project task can be asked in several wordings that request the same answer format, so
that its scorer is unchanged and a decoder's ranking can be checked across wordings (rankings of parallel decoders
flip with the prompt template, arXiv 2606.29228).

Every task has `default` (exactly today's prompt: d1's user message for the d1 tasks, the toy's compact message
for the toy tasks) and two written here:
- `plain`: the instruction reworded, the same answer format (`<answer>` block with `\\boxed{}`, or the 16-digit
  grid);
- `question_first`: the question before the instruction (the toy: the puzzle before its label).

The task YAMLs' `doc_to_text` is the function of this module named after the task; it renders the template in
effect (`use`), `default` unless a run chose another. A run's template is part of its identity (folder name,
store key through the prompt, leaderboard row).
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from typing import Callable, Iterator

from mdlm_eval.errors import UsageError

DEFAULT = "default"

_ANSWER_BOXED = ("Respond in the following format:\n<reasoning>\nYour reasoning here\n</reasoning>\n"
                 "<answer>\n\\boxed{...}\n</answer>")
_MATH = ("Solve the following problem. Work through it step by step, then give the final answer wrapped in "
         "\\boxed{}.\n" + _ANSWER_BOXED)
_COUNTDOWN = ("Reach the target number with an arithmetic expression that uses each given number exactly once, "
              "with +, -, * and / as needed. Reason step by step, then give only the expression inside \\boxed{}, "
              "with no equals sign and no target. For example: \\boxed{a + b * c}\n" + _ANSWER_BOXED)
_SUDOKU = ("Solve this 4x4 Sudoku. The grid is given as 16 digits, row by row from the top left, with 0 for an "
           "empty cell. Fill every empty cell with a digit from 1 to 4 so that each row, each column and each 2x2 "
           "box holds 1, 2, 3 and 4 exactly once.\n\nRespond in this exact format:\n<reasoning>\nYour step-by-step "
           "solving process\n</reasoning>\n<answer>\n[16-character solution string with no spaces or "
           "separators]\n</answer>\n")


def _question_first(instruction: str, question: str) -> str:
    return question + "\n\n" + instruction


Render = Callable[[dict], str]
TASKS = ["mdlm_gsm8k", "mdlm_math500", "mdlm_countdown", "mdlm_sudoku", "mdlm_sudoku_spg", "mdlm_toy_countdown",
         "mdlm_toy_sudoku"]


@lru_cache(maxsize=1)
def registry() -> dict[str, dict[str, Render]]:
    """{task: {template: render(doc) -> user message}} (imported when first rendered: `resolve` stays light)."""
    from mdlm_eval.models.toy import prompts as toy
    from mdlm_eval.scoring import countdown, gsm8k, math500, prompts, sudoku

    return {
        "mdlm_gsm8k": {
            DEFAULT: gsm8k.doc_to_text,
            "plain": lambda doc: prompts.user_message(_MATH, doc["question"]),
            "question_first": lambda doc: _question_first(prompts.GSM8K, doc["question"]),
        },
        "mdlm_math500": {
            DEFAULT: math500.doc_to_text,
            "plain": lambda doc: prompts.user_message(_MATH, doc["problem"]),
            "question_first": lambda doc: _question_first(prompts.MATH500, doc["problem"]),
        },
        "mdlm_countdown": {
            DEFAULT: countdown.doc_to_text,
            "plain": lambda doc: prompts.user_message(_COUNTDOWN, doc["question"]),
            "question_first": lambda doc: _question_first(prompts.COUNTDOWN, doc["question"]),
        },
        "mdlm_sudoku": {
            DEFAULT: sudoku.doc_to_text,
            "plain": lambda doc: prompts.user_message(_SUDOKU, doc["question"]),
            "question_first": lambda doc: _question_first(prompts.SUDOKU, doc["question"]),
        },
        "mdlm_sudoku_spg": {  # SPG's split, d1's prompts (as mdlm_sudoku)
            DEFAULT: sudoku.doc_to_text,
            "plain": lambda doc: prompts.user_message(_SUDOKU, doc["question"]),
            "question_first": lambda doc: _question_first(prompts.SUDOKU, doc["question"]),
        },
        "mdlm_toy_countdown": {
            DEFAULT: lambda doc: toy.countdown_prompt(doc["numbers"], doc["target"]),
            "plain": lambda doc: "Countdown: " + " ".join(map(str, doc["numbers"])) + f" -> {doc['target']}",
            "question_first": lambda doc: " ".join(map(toy.countdown_field, doc["numbers"])) + " -> "
                                          + toy.countdown_field(doc["target"]) + " :Countdown",
        },
        "mdlm_toy_sudoku": {
            DEFAULT: lambda doc: toy.sudoku_prompt(doc["puzzle"]),
            "plain": lambda doc: f"4x4 Sudoku puzzle: {doc['puzzle']}",
            "question_first": lambda doc: f"{doc['puzzle']} :Sudoku 4x4",
        },
    }


GROUPS = {"mdlm_reasoning": ["mdlm_gsm8k", "mdlm_math500", "mdlm_countdown", "mdlm_sudoku"],
          "mdlm_toy": ["mdlm_toy_countdown", "mdlm_toy_sudoku"]}
NAMES = [DEFAULT, "plain", "question_first"]

_active = DEFAULT


@contextmanager
def use(name: str) -> Iterator[None]:
    """Render the project tasks' prompts with template `name` inside the block."""
    global _active
    previous, _active = _active, name
    try:
        yield
    finally:
        _active = previous


def render(task: str, doc: dict) -> str:
    return registry()[task][_active](doc)


def resolve(spec: str | None, tasks: list[str]) -> list[str]:
    """`all` or comma-separated names -> template names; UsageError for an unknown name or a task without
    templates (an upstream lm-eval task)."""
    if not spec:
        return [DEFAULT]
    names = NAMES if spec == "all" else [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in NAMES]
    if unknown or not names:
        raise UsageError(f"unknown template {', '.join(unknown) or repr(spec)}; choose from {', '.join(NAMES)} or all")
    bare = [t for t in tasks if t not in TASKS and t not in GROUPS]
    if bare and names != [DEFAULT]:
        raise UsageError(f"--templates needs the project's tasks; {', '.join(bare)} has no templates "
                         f"(tasks with templates: {', '.join([*GROUPS, *TASKS])})")
    return names


def mdlm_gsm8k(doc: dict) -> str:
    return render("mdlm_gsm8k", doc)


def mdlm_math500(doc: dict) -> str:
    return render("mdlm_math500", doc)


def mdlm_countdown(doc: dict) -> str:
    return render("mdlm_countdown", doc)


def mdlm_sudoku(doc: dict) -> str:
    return render("mdlm_sudoku", doc)


def mdlm_sudoku_spg(doc: dict) -> str:
    return render("mdlm_sudoku_spg", doc)


def mdlm_toy_countdown(doc: dict) -> str:
    return render("mdlm_toy_countdown", doc)


def mdlm_toy_sudoku(doc: dict) -> str:
    return render("mdlm_toy_sudoku", doc)
