"""Score saved generations again: d1's paper-compatible `acc` and the task's robust metric.

Two inputs: d1's generation files (`<setup>_<rank>_generations.json`, {"generations": [{"question",
"generations", "ground_truth"}, ...]}), grouped by setup across ranks as d1's eval/parse_and_get_acc.py
does; and lm-eval's `samples_<task>_<time>.jsonl` (one JSON object a line with `doc` and
`filtered_resps`), one setup per file. A file that cannot be read is reported in one line naming it; the
others are still scored.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from mdlm_eval.errors import UsageError
from mdlm_eval.scoring import ROBUST_METRIC, TASKS, task_from_name
from mdlm_eval.terminal import fit

FORMATS = {"d1": "*_generations.json", "samples": "samples_*.jsonl"}
_D1_NAME = re.compile(r"(.+)_(\d+)_generations\.json$")
_DOC_KEYS = {
    "gsm8k": ("question", "answer"),
    "math500": ("problem", "answer"),
    "countdown": ("numbers", "target"),
    "sudoku": ("puzzle", "solution"),
}


class _BadFile(Exception):
    """A file that cannot be scored; the message names the file."""


@dataclass
class _Setup:
    task: str
    files: list[str] = field(default_factory=list)
    records: list[tuple[dict, str]] = field(default_factory=list)


@dataclass
class Report:
    """Scores per setup (the JSON object `mdlm-eval rescore --json` prints) and one line per bad input."""

    setups: dict[str, dict]
    errors: list[str]


def rescore(paths: list[str | Path], fmt: str = "d1", task: str | None = None) -> Report:
    """Score every file of `fmt` in `paths` (files, or folders searched for them), grouped by setup.

    `task` (gsm8k, math500, countdown, sudoku) overrides the task d1 infers from each setup name. For each
    setup: task, files, accuracy (percent), correct, total, items (per-item `acc` in file order, ranks in
    order), and the robust metric as {accuracy, correct, total, items}. Sudoku's correct/total count cells
    and its items are correct cells per puzzle; elsewhere items are 0/1.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if task is not None and task not in TASKS:
        raise UsageError(f"unknown --task {task!r}; choose one of {', '.join(TASKS)}")
    errors: list[str] = []
    setups: dict[str, _Setup] = {}
    for path in _files(paths, fmt, errors):
        try:
            name, file_task, records = _read_d1(path, task) if fmt == "d1" else _read_samples(path, task)
        except _BadFile as e:
            errors.append(str(e))
            continue
        setup = setups.setdefault(name, _Setup(file_task))
        setup.files.append(path.name)
        setup.records.extend(records)
    return Report({name: _score(setups[name]) for name in sorted(setups)}, errors)


def _files(paths: list[str | Path], fmt: str, errors: list[str]) -> list[Path]:
    """Files in the order d1 ranks them: by setup name, then rank; folders are searched."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            matches = sorted(path.glob(FORMATS[fmt]) if fmt == "d1" else path.rglob(FORMATS[fmt]))
            if not matches:
                errors.append(f"{path}: no {FORMATS[fmt]} files in this folder")
            found.extend(matches)
        elif path.is_file():
            found.append(path)
        else:
            errors.append(f"{path}: no such file or folder")
    unique = {path.resolve(): path for path in found}  # a file named twice is read once
    return sorted(unique.values(), key=_rank_key)


def _rank_key(path: Path) -> tuple[str, int, str]:
    match = _D1_NAME.match(path.name)
    return (match.group(1), int(match.group(2)), str(path)) if match else (path.name, 0, str(path))


def _read_d1(path: Path, task: str | None) -> tuple[str, str, list[tuple[dict, str]]]:
    match = _D1_NAME.match(path.name)
    name = match.group(1) if match else path.stem
    task = _task(path, name, task)
    data = _load_json(path)
    items = data.get("generations") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise _BadFile(f"{path}: not a d1 generations file (no \"generations\" list)")
    records = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not {"question", "generations", "ground_truth"} <= item.keys():
            raise _BadFile(f"{path}: generation {i} lacks question, generations or ground_truth")
        records.append((_d1_doc(path, i, task, item), _text(path, i, item["generations"])))
    return name, task, records


def _d1_doc(path: Path, i: int, task: str, item: dict) -> dict:
    """Our doc schema from d1's question and ground_truth."""
    question, truth = item["question"], item["ground_truth"]
    if task == "gsm8k":
        doc = {"question": question, "answer": float(truth) if _is_number(truth) else truth}
    elif task == "math500":
        doc = {"problem": question, "answer": truth}
    elif task == "countdown":
        doc = dict(zip(("numbers", "target"), truth)) if isinstance(truth, list) and len(truth) == 2 else {}
    else:
        puzzle = _d1_sudoku_puzzle(question) if isinstance(question, str) else None
        doc = {"puzzle": puzzle, "solution": truth}
    if not _valid_doc(task, doc):
        raise _BadFile(f"{path}: generation {i}: question or ground_truth is not a {task} one ({truth!r:.40})")
    return doc


def _valid_doc(task: str, doc: dict) -> bool:
    """The fields the scorers read are there, with the types they expect."""
    if not set(_DOC_KEYS[task]) <= doc.keys():
        return False
    if task == "gsm8k":
        return isinstance(doc["question"], str) and (doc["answer"] is None or _is_number(doc["answer"]))
    if task == "math500":
        return isinstance(doc["problem"], str) and isinstance(doc["answer"], str)
    if task == "countdown":
        numbers = doc["numbers"]
        return isinstance(numbers, list) and all(type(n) is int for n in numbers) and _is_number(doc["target"])
    puzzle, solution = doc["puzzle"], doc["solution"]
    return isinstance(puzzle, str) and len(puzzle) == 16 and isinstance(solution, str) and len(solution) >= 16


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _d1_sudoku_puzzle(question: str) -> str | None:
    """d1's rule: the question's first 16 characters if they are digits, else the 16 digits after
    `Sudoku puzzle: `."""
    if len(question) >= 16 and question[:16].isdigit():
        return question[:16]
    match = re.search(r"Sudoku puzzle: ([0-9]{16})", question)
    return match.group(1) if match else None


def _samples_setup(path: Path) -> str:
    """A samples file's setup name: `<model>/<run folder>/<task>_<time>` inside a run folder of `mdlm-eval run`
    (the run folder names the decoder, steps and length), else `<folder>/<task>_<time>`."""
    stem = path.stem.removeprefix("samples_")
    run = next((p for p in (path.parent, path.parent.parent) if (p / "manifest.json").is_file()), None)
    return f"{run.parent.name}/{run.name}/{stem}" if run is not None else f"{path.parent.name}/{stem}"


def _read_samples(path: Path, task: str | None) -> tuple[str, str, list[tuple[dict, str]]]:
    name = _samples_setup(path)
    task = _task(path, name, task)
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise _BadFile(f"{path}: cannot read it ({e})") from e
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
        except json.JSONDecodeError as e:
            raise _BadFile(f"{path}: line {number} is not JSON ({e.msg})") from e
        doc = sample.get("doc") if isinstance(sample, dict) else None
        if not isinstance(doc, dict) or not _valid_doc(task, doc):
            raise _BadFile(f"{path}: line {number} has no {task} doc ({', '.join(_DOC_KEYS[task])})")
        responses = sample.get("filtered_resps")
        if not isinstance(responses, list) or not responses:
            raise _BadFile(f"{path}: line {number} has no filtered_resps")
        records.append((doc, _text(path, number, responses[0])))
    if not records:
        raise _BadFile(f"{path}: no samples")
    return name, task, records


def _task(path: Path, name: str, task: str | None) -> str:
    found = task or task_from_name(name)
    if found is None:
        raise _BadFile(f"{path}: the name {name!r} names no known task (gsm, math, countdown, sudoku); pass --task")
    return found


def _load_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise _BadFile(f"{path}: cannot read it ({e})") from e
    except json.JSONDecodeError as e:
        raise _BadFile(f"{path}: not JSON ({e.msg} at line {e.lineno})") from e


def _text(path: Path, where: int, value: object) -> str:
    if not isinstance(value, str):
        raise _BadFile(f"{path}: generation {where} is not a string")
    return value


def _score(setup: _Setup) -> dict:
    module, robust = TASKS[setup.task], ROBUST_METRIC[setup.task]
    results = [module.process_results(doc, [text]) for doc, text in setup.records]
    paper = [r["acc"] if isinstance(r["acc"], tuple) else (r["acc"], 1) for r in results]
    return {
        "task": setup.task,
        "files": setup.files,
        **_summary([c for c, _ in paper], sum(t for _, t in paper)),
        robust: _summary([r[robust] for r in results], len(results)),
    }


def _summary(items: list[int], total: int) -> dict:
    correct = sum(items)
    return {"accuracy": 100 * correct / total if total else 0.0, "correct": correct, "total": total, "items": items}


def table(setups: dict[str, dict], columns: int | None = None) -> str:
    """The scores as text fitting `columns` (default: the terminal's): a row per setup, d1's accuracy then the
    robust metric, or a block of lines per setup where the row is too wide."""
    rows = []
    for name, scores in setups.items():
        robust = ROBUST_METRIC[scores["task"]]
        rows.append([name, scores["task"], _cell(scores), f"{robust} {_cell(scores[robust])}"])
    return fit(["setup", "task", "acc (d1)", "robust"], rows, columns)


def _cell(summary: dict) -> str:
    return f"{summary['accuracy']:.2f} ({summary['correct']}/{summary['total']})"
