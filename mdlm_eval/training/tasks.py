"""Training tasks: seeded prompt streams from the toy's generators (never d1's test items, which the
generators exclude), with the toy's prompts and each task's default rewards; and d1's training sets
(`d1_countdown`, `d1_sudoku`, `d1_gsm8k`, `d1_math`: `mdlm_eval.data.load_d1_train`) with d1's training prompts,
and SPG's solution-disjoint Sudoku training split (`spg_sudoku`) with d1's Sudoku prompt.

Held-out prompts: a problem whose fingerprint (`data.countdown_fingerprint` / `sudoku_fingerprint`, sha256) is
0 modulo `HELDOUT_ONE_IN` belongs to the held-out set; training streams skip those problems and the held-out
stream keeps only them, so the two never share a problem whatever the seeds.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from mdlm_eval.errors import UsageError
from mdlm_eval.models.toy import data, prompts
from mdlm_eval.scoring.prompts import SUDOKU, user_message

HELDOUT_ONE_IN = 8
HELDOUT_INDEX = -1  # the stream index of the held-out prompts (training streams count from 0)


@dataclass(frozen=True)
class TrainTask:
    name: str
    kinds: tuple[str, ...]  # countdown | sudoku: which rewards apply (every doc has its "kind")
    docs: Callable[[int, int, int], list[dict]]  # (seed, stream index, n) -> n docs; index -1: held out
    message: Callable[[dict], str]  # the user message
    answer: Callable[[dict], str]  # a well-formed answer (probes the rewards before training)
    rewards: dict[str, tuple[str, ...]]  # kind -> default rewards
    num_iterations: int  # the paper's inner updates: 8 for planning tasks, 12 for math

    def heldout(self, seed: int, n: int) -> list[dict]:
        """`n` held-out docs (for the mixed task: the kinds in turn)."""
        if len(self.kinds) == 1:
            return self.docs(seed, HELDOUT_INDEX, n)
        parts = [self.docs(seed, HELDOUT_INDEX - i, -(-n // len(self.kinds))) for i in range(len(self.kinds))]
        return [d for group in zip(*parts) for d in group][:n]


def is_heldout(doc: dict) -> bool:
    """True for the problems kept for held-out evaluation (one in HELDOUT_ONE_IN, by fingerprint)."""
    fp = (data.countdown_fingerprint(doc["numbers"], doc["target"]) if doc["kind"] == "countdown"
          else data.sudoku_fingerprint(doc["puzzle"]))
    return int(fp, 16) % HELDOUT_ONE_IN == 0


def _countdown_docs(seed: int, index: int, n: int) -> list[dict]:
    rng = random.Random(f"countdown:{seed}:{index}")
    out = []
    while len(out) < n:
        numbers, target, expr = data.generate_countdown(rng)
        doc = {"kind": "countdown", "numbers": numbers, "target": target, "expression": expr}
        if is_heldout(doc) == (index < 0):
            out.append(doc)
    return out


def _sudoku_docs(seed: int, index: int, n: int, clues: int = 8) -> list[dict]:
    rng = np.random.default_rng([seed, index] if index >= 0 else [seed, 2**32 + index])
    out: list[dict] = []
    while len(out) < n:
        batch = [{"kind": "sudoku", "puzzle": p, "solution": s}
                 for p, s in data.generate_sudoku_batch(rng, n - len(out), clues)]
        out += [d for d in batch if is_heldout(d) == (index < 0)]
    return out


def _mixed_docs(seed: int, index: int, n: int) -> list[dict]:
    """Even stream indices draw Countdown, odd ones Sudoku (a micro-batch holds one task)."""
    return (_countdown_docs if index % 2 == 0 else _sudoku_docs)(seed, index, n)


def _message(d: dict) -> str:
    if d["kind"] == "countdown":
        return prompts.countdown_prompt(d["numbers"], d["target"])
    return prompts.sudoku_prompt(d["puzzle"])


def _answer(d: dict) -> str:
    return prompts.countdown_answer(d["expression"]) if d["kind"] == "countdown" else prompts.sudoku_answer(d["solution"])


DEFAULT_REWARDS = {"countdown": ("d1_countdown",), "sudoku": ("d1_sudoku",)}  # d1's; configs/toy.yaml: the box


# ---- d1's training sets, with d1's training prompts (diffu-grpo/data_utils.py, character for character) ----
D1_FORMAT = "\nRespond in the following format:\n<reasoning>\n...\n</reasoning>\n<answer>\n...\n</answer>\n"
D1_COUNTDOWN = (
    "Using only the numbers {numbers}, create an arithmetic expression that evaluates to exactly {target}. You must "
    "use all numbers from the list, and each number must be used exactly once. You may use the operations +, -, *, "
    "and / as needed. After reasoning, provide only your final expression inside <answer></answer> tags without "
    "including an equals sign or the target number. For example, if the numbers are [2, 3, 4] and the target is 5, "
    "a valid answer is: <answer>\n2*4-3\n</answer>"
)
D1_MATH = ("You are a math expert. You will be given a question to solve. Solve it step by step. Wrap the final "
           "answer in a \\boxed{{}}. \n\n{problem}")


def d1_message(d: dict) -> str:
    """d1's training user message for a doc of `load_d1_train` (get_*_questions' `prompt` content)."""
    kind = d["kind"]
    if kind == "countdown":
        return D1_FORMAT + "\n" + D1_COUNTDOWN.format(numbers=d["numbers"], target=d["target"])
    if kind == "sudoku":
        return user_message(SUDOKU, f"Solve the following Sudoku puzzle: {d['puzzle']}\n")
    if kind == "gsm8k":
        return D1_FORMAT + "\n\n" + d["question"]
    return D1_FORMAT + "\n\n" + D1_MATH.format(problem=d["problem"])


def _d1_answer(d: dict) -> str:
    """A completion in d1's format (its strict-format regex), with the gold answer where the doc has one
    (GSM8K: the text after `####`, which d1's correctness reward compares with)."""
    kind = d["kind"]
    body = {"countdown": lambda: "+".join(map(str, d["numbers"])), "sudoku": lambda: d["solution"],
            "gsm8k": lambda: d["solution"].split("####")[1].strip() if "####" in d["solution"] else str(d["answer"]),
            "math": lambda: f"\\boxed{{{d['answer']}}}"}[kind]()
    return f"<reasoning>\nWorking.\n</reasoning>\n<answer>\n{body}\n</answer>\n"


@lru_cache(maxsize=4)
def _d1_sets(kind: str, seed: int) -> tuple[list[dict], list[dict]]:
    """`data.load_d1_train(kind, seed)`: (training docs, d1's held-out docs), loaded once."""
    from mdlm_eval import data as task_data

    return task_data.load_d1_train(kind, seed)


def _d1_heldout(kind: str, seed: int) -> list[dict]:
    """d1's held-out rows for Countdown and Sudoku; for GSM8K and MATH, which d1 trains on whole, the test sets
    (GSM8K test, MATH-500), which training never sees."""
    from mdlm_eval import data as task_data

    if kind in ("countdown", "sudoku", "sudoku_spg"):
        return _d1_sets(kind, seed)[1]
    return [{"kind": kind, **row} for row in (task_data.load_gsm8k() if kind == "gsm8k" else task_data.load_math500())]


def _d1_docs(kind: str) -> Callable[[int, int, int], list[dict]]:
    """Stream index i >= 0: rows i*n .. i*n + n - 1 of d1's shuffled training set, wrapping round at its end
    (epochs); index < 0: the first n held-out docs."""
    def docs(seed: int, index: int, n: int) -> list[dict]:
        if index < 0:
            return _d1_heldout(kind, seed)[:n]
        train = _d1_sets(kind, seed)[0]
        return [train[(index * n + j) % len(train)] for j in range(n)]
    return docs


D1_REWARDS = {"countdown": ("d1_countdown",), "sudoku": ("d1_sudoku",),
              "gsm8k": ("d1_xmlcount", "d1_soft_format", "d1_strict_format", "d1_int", "d1_correctness"),
              "math": ("d1_correctness_math", "d1_boxed_and_answer_tags")}
"""d1's reward lists per training set (diffu_grpo_train.py), summed with weight 1 as TRL sums them."""


def _d1_task(kind: str, num_iterations: int, name: str | None = None, doc_kind: str | None = None) -> TrainTask:
    return TrainTask(name or f"d1_{kind}", (doc_kind or kind,), _d1_docs(kind), d1_message, _d1_answer, D1_REWARDS,
                     num_iterations)


TASKS: dict[str, TrainTask] = {
    "mdlm_toy_countdown": TrainTask("mdlm_toy_countdown", ("countdown",), _countdown_docs, _message, _answer,
                                    DEFAULT_REWARDS, 8),
    "mdlm_toy_sudoku": TrainTask("mdlm_toy_sudoku", ("sudoku",), _sudoku_docs, _message, _answer, DEFAULT_REWARDS, 8),
    "mdlm_toy": TrainTask("mdlm_toy", ("countdown", "sudoku"), _mixed_docs, _message, _answer, DEFAULT_REWARDS, 8),
    "d1_countdown": _d1_task("countdown", 8),
    "d1_sudoku": _d1_task("sudoku", 8),
    # SPG's solution-disjoint Sudoku training split, for scores on its test split (`mdlm_sudoku_spg`): d1's
    # prompt and reward, only the puzzles differ (SPG's own runs add 3 worked examples to the prompt)
    "spg_sudoku": _d1_task("sudoku_spg", 8, "spg_sudoku", "sudoku"),
    "d1_gsm8k": _d1_task("gsm8k", 12),
    "d1_math": _d1_task("math", 12),
}
"""Training task -> its prompt stream. `mdlm_toy` alternates the two (as the toy's SFT mixes them)."""


def get_task(name: str) -> TrainTask:
    if name not in TASKS:
        raise UsageError(f"task '{name}' has no training set here; choose one of {', '.join(TASKS)}")
    return TASKS[name]
