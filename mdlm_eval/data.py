"""The four d1 reasoning datasets as `datasets.Dataset`s with fixed doc schemas.

Sources (d1's, dllm-reasoning/d1 eval/*.py): GSM8K test and MATH-500 from the Hugging Face hub;
Countdown (cd3 test) and 4x4 Sudoku (and SPG's solution-disjoint Sudoku split from facebookresearch/SPG at
`SPG_COMMIT`, `sudoku_4x4_spg_test.csv`) downloaded once from d1's repository at commit `D1_COMMIT`,
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


SPG_COMMIT = "a1c712091aee3fde759bbf73b7850546265cd52d"
SPG_URL = f"https://raw.githubusercontent.com/facebookresearch/SPG/{SPG_COMMIT}"


@dataclass(frozen=True)
class DataFile:
    """One task file: its name in MDLM_EVAL_DATA_DIR and the cache, its sha256, its rows, where its repository
    keeps it (`d1_path` under `repo_url`, d1's by default)."""

    name: str
    sha256: str
    rows: int
    d1_path: str | None = None
    repo_url: str = D1_URL


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
    # SPG's solution-disjoint test split (facebookresearch/SPG dataset/generate_new_sudoku_splitting.py)
    "sudoku_spg": DataFile(
        "sudoku_4x4_spg_test.csv",
        "bd93420f34f57f6b73c1a4080e70dd2f9366901b9b759132bb8f098c5339929d",
        256,
        "dataset/test_sudoku_split_new.csv",
        SPG_URL,
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


def load_sudoku_spg(base_url: str | None = None) -> datasets.Dataset:
    """4x4 Sudoku, SPG's solution-disjoint test split: all 256 puzzles in SPG's evaluation order (its
    `np.random.choice(256, 256, replace=False)` under seed 42, the d1 subsample); same schema as `load_sudoku`.
    `base_url` replaces SPG's repository at `SPG_COMMIT` (default: $MDLM_EVAL_DATA_URL, else SPG's GitHub)."""
    rows = _rows("sudoku_spg", base_url)
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


def sudoku_spg_splits(**_: object) -> dict[str, datasets.Dataset]:
    """lm-eval `custom_dataset` hook: {"test": load_sudoku_spg()}."""
    return {"test": load_sudoku_spg()}


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
        url = f"{(base_url or os.environ.get(URL_VARIABLE) or spec.repo_url).rstrip('/')}/{spec.d1_path}"
        _download(url, path, spec.sha256)
    return _parse(path, path.read_bytes(), spec)


def _verified_bytes(path: Path, spec: DataFile) -> bytes:
    if not path.is_file():
        raise _missing_error(path, _how_to_get(spec.name, spec.d1_path, spec.repo_url, _HUB.get(_task_of(spec))))
    try:
        data = path.read_bytes()
    except OSError as e:
        raise _data_error(path, f"cannot read it ({e.strerror or e})") from e
    if (digest := _sha256(data)) != spec.sha256:
        raise _data_error(path, f"sha256 {digest[:12]}... is not the expected {spec.sha256[:12]}...")
    return data


def _task_of(spec: DataFile) -> str:
    return next(task for task, s in FILES.items() if s is spec)


def _how_to_get(name: str, repo_path: str | None, repo_url: str, hub: tuple | None, split: str = "test") -> str:
    """How to place file `name` in MDLM_EVAL_DATA_DIR: a repository file to download, or a hub split to save."""
    if repo_path is not None:
        return f"download {repo_url}/{repo_path} there as {name}"
    repo, config = hub[0], hub[1]
    args = f"'{repo}', '{config}'" if config else f"'{repo}'"
    return (f"save the hub's split there: python -c \"import datasets; datasets.load_dataset({args}, "
            f"split='{split}').to_json('{name}')\"")


def _missing_error(path: Path, how: str) -> UsageError:
    return UsageError(f"{path} is missing ({DATA_DIR_VARIABLE} is set, so nothing is downloaded); {how}")


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


def _download(url: str, path: Path, sha256: str | None, git_blob: str | None = None) -> None:
    """Fetch `url` into `path` atomically: a temporary file beside it, renamed only once the sha256 (and the git
    object id, where given) match (None: not on record here)."""
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
        if sha256 is not None and digest.hexdigest() != sha256:
            reason = f"download from {url} has sha256 {digest.hexdigest()[:12]}..., expected {sha256[:12]}..."
            raise _data_error(path, reason)
        if git_blob is not None and (blob := git_blob_id(Path(temporary).read_bytes())) != git_blob:
            reason = f"download from {url} has git object id {blob[:12]}..., expected {git_blob[:12]}..."
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


# ---- d1's training sets (dllm-reasoning/d1 diffu-grpo/data_utils.py and diffu_grpo_train.py) ----
@dataclass(frozen=True)
class TrainFile:
    """A training set: its file in MDLM_EVAL_DATA_DIR, and where d1 loads it (a hub split or a d1 file).

    `git_blob` pins a repository file's bytes: its object id in the repository's tree at the pinned commit
    (`git ls-tree`), i.e. sha1(b"blob <size>\\0" + bytes), checked on every read and download. (Their sha256 is
    not on record: the files, over 4 MiB, were not at hand; the object id names the same bytes.) The hub sets have
    no pin: their file is what `datasets` writes (`to_json`), whose bytes depend on the library's version."""

    name: str
    hub: tuple[str, str | None, str] | None = None  # (dataset, config, split) for `datasets.load_dataset`
    d1_path: str | None = None  # a file of the repository (d1's, or `repo`'s) at its pinned commit
    git_blob: str | None = None
    repo: str = "d1"  # d1 | SPG: whose repository holds `d1_path`


def git_blob_id(data: bytes) -> str:
    """Git's object id of a file's bytes (`git hash-object`): sha1(b"blob <size>\\0" + data)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


TRAIN_FILES = {
    "countdown": TrainFile("countdown_3to4_train.jsonl", hub=("Jiayi-Pan/Countdown-Tasks-3to4", None, "train")),
    # the same object in SPG's and EOSER-ASS-RL's copies of dataset/
    "sudoku": TrainFile("sudoku_4x4_unique_puzzles.csv", d1_path="dataset/4x4_sudoku_unique_puzzles.csv",
                        git_blob="8528d3289938732ccf10fb04c936c5b6840c3ff3"),
    # SPG's solution-disjoint training split (facebookresearch/SPG dataset/generate_new_sudoku_splitting.py): no
    # solution of its puzzles is the solution of a puzzle of SPG's test split (`mdlm_sudoku_spg`)
    "sudoku_spg": TrainFile("sudoku_4x4_spg_train.csv", d1_path="dataset/train_sudoku_split_new.csv",
                            git_blob="e0a4d901fb286a88fc3cfbceb70bdf19cddc2970", repo="SPG"),
    "gsm8k": TrainFile("gsm8k_train.jsonl", hub=("openai/gsm8k", "main", "train")),
    "math": TrainFile("math_train.jsonl", hub=("ankner/math-500", None, "train")),
}
_REPOS = {"d1": (D1_URL, D1_COMMIT), "SPG": (SPG_URL, SPG_COMMIT)}
_TRAIN_COLUMNS = {"countdown": ("nums", "target"), "sudoku": ("Puzzle", "Solution"),
                  "sudoku_spg": ("Puzzle", "Solution"), "gsm8k": ("question", "answer"),
                  "math": ("problem", "solution")}
D1_TRAIN_HELDOUT = 500  # d1 keeps the last 500 shuffled Countdown and Sudoku rows out of training


def load_d1_train(task: str, seed: int = 42) -> tuple[list[dict], list[dict]]:
    """d1's training prompts for `task` (countdown | sudoku | sudoku_spg | gsm8k | math) as docs, and the rows d1
    holds out.

    As d1 loads them: Countdown is Countdown-Tasks-3to4's train split with 3 numbers only; Sudoku d1's
    4x4_sudoku_unique_puzzles.csv; GSM8K openai/gsm8k (main) train; MATH ankner/math-500 train; and, as SPG's
    diffu_grpo_train.py loads it (d1's loader on another file), sudoku_spg is SPG's train_sudoku_split_new.csv,
    whose solutions are disjoint from those of SPG's test split. The set is
    shuffled by `datasets.Dataset.shuffle(seed=seed)` (d1: the run's seed, 42 by default); for Countdown and
    both Sudoku sets the last 500 rows are left out of training (`dataset.select(range(0, len(dataset) - 500))`) and are
    returned as the held-out docs; GSM8K and MATH train on every row and hold nothing out.
    Docs: {"kind", ...} with countdown: numbers, target; sudoku (both sets): puzzle, solution; gsm8k: question, answer
    (float, as the GSM8K task reads `####`), solution; math: problem, answer (the solution's last box), solution.
    """
    if task not in TRAIN_FILES:
        raise UsageError(f"there is no training set '{task}'; choose one of {', '.join(TRAIN_FILES)}")
    rows = _train_rows(task)
    spec = TRAIN_FILES[task]
    if missing := [c for c in _TRAIN_COLUMNS[task] if c not in rows[0]]:
        raise UsageError(f"{spec.name}: its rows lack {', '.join(missing)}; save {spec.hub[0] if spec.hub else 'the file'} "
                         f"as d1 loads it")
    if task == "countdown":
        rows = [r for r in rows if len(r["nums"]) == 3]  # d1: data.filter(lambda x: len(x["nums"]) == 3)
    order = list(datasets.Dataset.from_dict({"i": list(range(len(rows)))}).shuffle(seed=seed)["i"])
    docs = [_train_doc(task, rows[i]) for i in order]
    if task in ("countdown", "sudoku", "sudoku_spg"):  # SPG's diffu_grpo_train.py holds out its last 500 too
        if len(docs) <= D1_TRAIN_HELDOUT:
            raise UsageError(f"{TRAIN_FILES[task].name} has {len(docs)} usable rows; d1 holds out the last "
                             f"{D1_TRAIN_HELDOUT}, so it needs more")
        return docs[:-D1_TRAIN_HELDOUT], docs[-D1_TRAIN_HELDOUT:]
    return docs, []


def _train_doc(task: str, row: dict) -> dict:
    if task == "countdown":
        return {"kind": task, "numbers": [int(n) for n in row["nums"]], "target": int(row["target"])}
    if task in ("sudoku", "sudoku_spg"):
        return {"kind": "sudoku", "puzzle": row["Puzzle"], "solution": row["Solution"]}
    if task == "gsm8k":
        return {"kind": task, **_gsm8k_doc(row)}
    from mdlm_eval.scoring.boxes import last_boxed_content

    # d1's correctness_reward_func_math compares with remove_boxed(last_boxed_only_string(solution))
    return {"kind": task, "problem": row["problem"], "answer": last_boxed_content(row["solution"]),
            "solution": row["solution"]}


def _train_rows(task: str) -> list[dict]:
    """The training set's raw rows: from MDLM_EVAL_DATA_DIR, else the hub or d1's repository (cached)."""
    spec = TRAIN_FILES[task]
    if data_dir := os.environ.get(DATA_DIR_VARIABLE):
        path = Path(data_dir) / spec.name
        if not path.is_file():
            how = _how_to_get(spec.name, spec.d1_path, _REPOS[spec.repo][0], spec.hub,
                              spec.hub[2] if spec.hub else "train")
            raise _missing_error(path, how)
        if spec.git_blob is not None:
            try:
                blob = git_blob_id(path.read_bytes())
            except OSError as e:
                raise _data_error(path, f"cannot read it ({e.strerror or e})") from e
            if blob != spec.git_blob:
                raise _data_error(path, f"git object id {blob[:12]}... is not that of {spec.repo}'s {spec.d1_path} "
                                        f"({spec.git_blob[:12]}... at commit {_REPOS[spec.repo][1][:7]})")
        return _parse_rows(path)
    if spec.hub is not None:
        name, config, split = spec.hub
        try:
            return list(datasets.load_dataset(name, config, split=split))
        except Exception as e:  # offline, missing, or broken: the hub's errors are many
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UsageError(f"cannot load {name} ({split}) from the Hugging Face hub ({reason}); "
                             f"set {DATA_DIR_VARIABLE} to a folder with {spec.name}") from e
    path = _cache_dir() / spec.name
    if not (path.is_file() and (spec.git_blob is None or git_blob_id(path.read_bytes()) == spec.git_blob)):
        _download(f"{(os.environ.get(URL_VARIABLE) or _REPOS[spec.repo][0]).rstrip('/')}/{spec.d1_path}", path, None,
                  git_blob=spec.git_blob)
    return _parse_rows(path)


def _parse_rows(path: Path) -> list[dict]:
    """Rows of a .jsonl or .csv training file (any count; an empty one is an error)."""
    try:
        text = path.read_text(encoding="utf-8")
        rows = (list(csv.DictReader(io.StringIO(text))) if path.suffix == ".csv"
                else [json.loads(line) for line in text.splitlines() if line.strip()])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as e:
        raise _data_error(path, f"does not parse ({e})") from e
    if not rows:
        raise _data_error(path, "has no rows")
    return rows
