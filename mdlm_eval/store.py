"""The sample store: every finished sample is on disk as soon as its batch is done, so no work is lost.

One append-only JSON-lines file per process (`rank<r>.jsonl`) in the store folder; each line is one sample
under a key that hashes everything its answer depends on, so a change of any of them never reuses a stale
answer: the model and adapter names *and contents* (`mdlm_eval.fingerprint`: the hub commit, or size, time and
edge bytes of each weight file), dtype, the resolved decoder settings, generation length, seed, task,
document, the formatted prompt, stop strings and text options. A line cut short by a kill is ignored.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any


def sample_key(**parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def read_records(folder: str | os.PathLike) -> dict[str, dict]:
    """Every readable record of every process's file in a store folder, by key (reads only)."""
    records: dict[str, dict] = {}
    for file in sorted(Path(folder).glob("rank*.jsonl")):
        bad = 0
        with open(file, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    record = json.loads(line)
                    records[record["key"]] = record
                except (json.JSONDecodeError, KeyError, TypeError):
                    bad += 1
        if bad:
            warnings.warn(f"sample store {file}: ignored {bad} unreadable line(s) (a run cut short); they are redone")
    return records


class SampleStore:
    def __init__(self, folder: str | os.PathLike, rank: int = 0):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"rank{rank}.jsonl"
        self.records = read_records(self.folder)
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb+") as f:  # end a line cut short by a kill before appending after it
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")

    def get(self, key: str) -> dict | None:
        return self.records.get(key)

    def put_many(self, records: list[dict]) -> None:
        """Append records (each with a `key`) and force them to disk."""
        with open(self.path, "a", encoding="utf-8") as f:
            for record in records:
                self.records[record["key"]] = record
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())


def write_atomic(path: str | os.PathLike, data: str | bytes) -> None:
    """Write a file so that a reader (or a kill) never sees it half-written: temp file + rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
