"""The four d1 reasoning datasets as `datasets.Dataset`s with fixed doc schemas.

Sources (d1's, dllm-reasoning/d1 eval/*.py): GSM8K test and MATH-500 from the Hugging Face hub;
Countdown (cd3 test) and 4x4 Sudoku downloaded once from d1's repository at commit `D1_COMMIT`,
sha256-checked and cached under $MDLM_EVAL_CACHE (default ~/.cache/mdlm-eval). If $MDLM_EVAL_DATA_DIR is
set, all four are read from that folder instead (gsm8k_test.jsonl, math500_test.jsonl,
countdown_cd3_test.jsonl, sudoku_4x4_test.csv), sha256-checked, with no network at all.

Doc schemas:
- gsm8k: question, answer (float: d1's reading of the `#### n` line, None if absent), solution (the text)
- math500: problem, answer, solution, subject, level, unique_id (MATH-500's own fields)
- countdown: numbers (list[int]), target (int), question ("Numbers: [a, b, c]\\nTarget: t")
- sudoku: puzzle (16 digits, 0 = empty), solution (16 digits), question, index (row in d1's file)

Order and subsets are d1's: GSM8K and MATH-500 in file order; Countdown's 256 and Sudoku's 256 of 500
in the order of `numpy.random.seed(42); numpy.random.choice(n, 256, replace=False)`.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np

from mdlm_eval.errors import UsageError
from mdlm_eval.messages import quiet_lm_eval_warnings

quiet_lm_eval_warnings()  # lm-eval's `--metadata` hint, logged for every task built on these functions

DATA_DIR_VARIABLE = "MDLM_EVAL_DATA_DIR"
CACHE_VARIABLE = "MDLM_EVAL_CACHE"
URL_VARIABLE = "MDLM_EVAL_DATA_URL"
D1_COMMIT = "837888f22c21a5da91a0af2b0d7b19e81d9b47ec"
D1_URL = f"https://raw.githubusercontent.com/dllm-reasoning/d1/{D1_COMMIT}"
D1_SEED = 42
D1_SUBSAMPLE = 256


@dataclass(frozen=True)
class DataFile:
    """One task file: its name in MDLM_EVAL_DATA_DIR and the cache, its sha256, its rows, where d1 keeps it."""

    name: str
    sha256: str
    rows: int
    d1_path: str | None = None


FILES = {
    "gsm8k": DataFile("gsm8k_test.jsonl", "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14", 1319),
    "math500": DataFile("math500_test.jsonl", "35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132", 500),
    "countdown": DataFile(
        "countdown_cd3_test.jsonl",
        "9916f614621e26fb2b035ed4ea641e35e4fff0d533bb9b9c7bcaaa61017d88c6",
        256,
        "dataset/countdown_cd3_test.jsonl",
    ),
    "sudoku": DataFile(
        "sudoku_4x4_test.csv",
        "ef86c7c28ebef88484d85fda59b3909a7b621241aa1abf36343437dbc4a3ffb6",
        500,
        "dataset/4x4_test_sudoku.csv",
    ),
}
_HUB = {"gsm8k": ("openai/gsm8k", "main"), "math500": ("HuggingFaceH4/MATH-500", None)}
_GSM8K_FINAL = re.compile(r"####\s*\$?([\d,]+(?:\.\d+)?)")


def load_gsm8k() -> datasets.Dataset:
    """GSM8K test, 1,319 docs: question, answer (float or None), solution."""
    return datasets.Dataset.from_list([_gsm8k_doc(row) for row in _rows("gsm8k")])


def load_math500() -> datasets.Dataset:
    """MATH-500, 500 docs: problem, answer, solution, subject, level, unique_id."""
    return datasets.Dataset.from_list(_rows("math500"))


def load_countdown(base_url: str | None = None) -> datasets.Dataset:
    """Countdown cd3 test, 256 docs in d1's order: numbers, target, question.

    `base_url` is where d1's repository files are fetched from if not cached (default: $MDLM_EVAL_DATA_URL,
    else d1's GitHub repository at `D1_COMMIT`).
    """
    rows = _rows("countdown", base_url)
    return datasets.Dataset.from_list([_countdown_doc(rows[i]) for i in d1_subsample(len(rows))])


def load_sudoku(base_url: str | None = None) -> datasets.Dataset:
    """4x4 Sudoku, d1's 256 of 500 puzzles in d1's order: puzzle, solution, question, index (`base_url` as
    for `load_countdown`)."""
    rows = _rows("sudoku", base_url)
    return datasets.Dataset.from_list([_sudoku_doc(rows[i], i) for i in d1_subsample(len(rows))])


def d1_subsample(n: int) -> list[int]:
    """d1's evaluation subset of n rows: `numpy.random.seed(42); numpy.random.choice(n, 256, replace=False)`."""
    return np.random.RandomState(D1_SEED).choice(n, D1_SUBSAMPLE, replace=False).tolist()


def gsm8k_splits(**_: object) -> dict[str, datasets.Dataset]:
    """lm-eval `custom_dataset` hook (it passes the task metadata, unused): {"test": load_gsm8k()}."""
    return {"test": load_gsm8k()}


def math500_splits(**_: object) -> dict[str, datasets.Dataset]:
    """lm-eval `custom_dataset` hook: {"test": load_math500()}."""
    return {"test": load_math500()}


def countdown_splits(**_: object) -> dict[str, datasets.Dataset]:
    """lm-eval `custom_dataset` hook: {"test": load_countdown()}."""
    return {"test": load_countdown()}


def sudoku_splits(**_: object) -> dict[str, datasets.Dataset]:
    """lm-eval `custom_dataset` hook: {"test": load_sudoku()}."""
    return {"test": load_sudoku()}


def _gsm8k_doc(row: dict) -> dict:
    """d1's ground truth: the number after `####`, thousands separators dropped (eval/parsers.py)."""
    match = _GSM8K_FINAL.search(row["answer"])
    try:
        answer = float(match.group(1).replace(",", "")) if match else None
    except ValueError:  # `#### ,`
        answer = None
    return {"question": row["question"], "answer": answer, "solution": row["answer"]}


def _countdown_doc(row: dict) -> dict:
    numbers = [int(n) for n in row["input"].split(",")]
    target = int(row["output"])
    return {"numbers": numbers, "target": target, "question": f"Numbers: {numbers}\nTarget: {target}"}


def _sudoku_doc(row: dict, index: int) -> dict:
    puzzle = row["Puzzle"]
    return {
        "puzzle": puzzle,
        "solution": row["Solution"],
        "question": f"Solve the following Sudoku puzzle: {puzzle}\n",
        "index": index,
    }


def _rows(task: str, base_url: str | None = None) -> list[dict]:
    """The task's raw rows, from MDLM_EVAL_DATA_DIR, the d1 download cache, or the hub."""
    spec = FILES[task]
    if data_dir := os.environ.get(DATA_DIR_VARIABLE):
        path = Path(data_dir) / spec.name
        return _parse(path, _verified_bytes(path, spec), spec)
    if spec.d1_path is None:
        return _hub_rows(task)
    path = _cache_dir() / spec.name
    if not (path.is_file() and _sha256(path.read_bytes()) == spec.sha256):
        url = f"{(base_url or os.environ.get(URL_VARIABLE) or D1_URL).rstrip('/')}/{spec.d1_path}"
        _download(url, path, spec.sha256)
    return _parse(path, path.read_bytes(), spec)


def _verified_bytes(path: Path, spec: DataFile) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise _data_error(path, f"cannot read it ({e.strerror or e})") from e
    if (digest := _sha256(data)) != spec.sha256:
        raise _data_error(path, f"sha256 {digest[:12]}... is not the expected {spec.sha256[:12]}...")
    return data


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _parse(path: Path, data: bytes, spec: DataFile) -> list[dict]:
    """Rows of a .jsonl or .csv file; a file that does not parse, or has the wrong row count, is an error."""
    try:
        text = data.decode("utf-8")
        if path.suffix == ".csv":
            rows = list(csv.DictReader(io.StringIO(text)))
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as e:
        raise _data_error(path, f"does not parse ({e})") from e
    if len(rows) != spec.rows:
        raise _data_error(path, f"has {len(rows)} rows, expected {spec.rows}")
    return rows


def _hub_rows(task: str) -> list[dict]:
    name, config = _HUB[task]
    try:
        rows = list(datasets.load_dataset(name, config, split="test"))
    except Exception as e:  # offline, missing, or broken: the hub's errors are many
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UsageError(
            f"cannot load {name} from the Hugging Face hub ({reason}); "
            f"set {DATA_DIR_VARIABLE} to a folder with {FILES[task].name}"
        ) from e
    if len(rows) != FILES[task].rows:
        raise UsageError(f"{name} from the hub has {len(rows)} rows, expected {FILES[task].rows}")
    return rows


def _cache_dir() -> Path:
    return Path(os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache" / "mdlm-eval")


def _download(url: str, path: Path, sha256: str) -> None:
    """Fetch `url` into `path` atomically: a temporary file beside it, renamed only once the sha256 matches."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        digest, received = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            announced = response.headers.get("Content-Length")
            while chunk := response.read(1 << 16):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
        if announced is not None and received != int(announced):
            raise _data_error(path, f"download from {url} failed (cut off after {received} of {announced} bytes)")
        if digest.hexdigest() != sha256:
            reason = f"download from {url} has sha256 {digest.hexdigest()[:12]}..., expected {sha256[:12]}..."
            raise _data_error(path, reason)
        os.replace(temporary, path)
    except UsageError:
        raise
    except Exception as e:  # network errors, truncated bodies, HTTP errors, a full disk
        raise _data_error(path, f"download from {url} failed ({e})") from e
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _data_error(path: Path, reason: str) -> UsageError:
    """One line naming the file and the variable that points at verified copies."""
    reason = " ".join(reason.split())
    return UsageError(f"{path}: {reason}; set {DATA_DIR_VARIABLE} to a folder with the verified task files")
