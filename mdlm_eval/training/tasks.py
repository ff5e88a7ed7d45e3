"""Training tasks: seeded prompt streams from the toy's generators (never d1's test items, which the
generators exclude), with the toy's prompts and each task's default rewards.

Held-out prompts: a problem whose fingerprint (`data.countdown_fingerprint` / `sudoku_fingerprint`, sha256) is
0 modulo `HELDOUT_ONE_IN` belongs to the held-out set; training streams skip those problems and the held-out
stream keeps only them, so the two never share a problem whatever the seeds.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

import numpy as np

from mdlm_eval.errors import UsageError
from mdlm_eval.models.toy import data, prompts

HELDOUT_ONE_IN = 8
HELDOUT_INDEX = -1  # the stream index of the held-out prompts (training streams count from 0)


@dataclass(frozen=True)
class TrainTask:
    name: str
    kinds: tuple[str, ...]  # countdown | sudoku: which rewards apply (every doc has its "kind")
    docs: Callable[[int, int, int], list[dict]]  # (seed, stream index, n) -> n docs; index -1: held out
    message: Callable[[dict], str]  # the user message
    answer: Callable[[dict], str]  # a correct answer (probes the rewards before training)
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


TASKS: dict[str, TrainTask] = {
    "mdlm_toy_countdown": TrainTask("mdlm_toy_countdown", ("countdown",), _countdown_docs, _message, _answer,
                                    DEFAULT_REWARDS, 8),
    "mdlm_toy_sudoku": TrainTask("mdlm_toy_sudoku", ("sudoku",), _sudoku_docs, _message, _answer, DEFAULT_REWARDS, 8),
    "mdlm_toy": TrainTask("mdlm_toy", ("countdown", "sudoku"), _mixed_docs, _message, _answer, DEFAULT_REWARDS, 8),
}
"""Training task -> its prompt stream. `mdlm_toy` alternates the two (as the toy's SFT mixes them)."""


def get_task(name: str) -> TrainTask:
    if name not in TASKS:
        raise UsageError(f"task '{name}' has no training set here; choose one of {', '.join(TASKS)}")
    return TASKS[name]
