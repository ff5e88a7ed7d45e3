"""One-line messages that say what really happened: an interrupted run, a hub dataset while offline, lm-eval
warnings that do not apply to the project's tasks."""
from __future__ import annotations

import logging
import re
import shlex
import shutil
from pathlib import Path

from mdlm_eval.errors import UsageError

# lm-eval warns on every task with a `custom_dataset` that it could take `--metadata` (`max_seq_lengths`, for its
# RULER tasks); the project's data functions take none, so the warning is noise on every run.
_METADATA_HINT = "Custom kwargs can be passed to `--metadata`"
# What the project offers offline for an lm-eval task's hub dataset (mdlm_eval.data reads MDLM_EVAL_DATA_DIR).
_UNREACHABLE = re.compile(r"Couldn't reach '(.+?)' on the Hub")  # datasets.load_dataset's error, offline
OFFLINE_ALTERNATIVES = {"gsm8k": "mdlm_gsm8k", "math-500": "mdlm_math500", "math500": "mdlm_math500"}


class _ProjectTaskNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("mdlm_") and _METADATA_HINT in message)


def quiet_lm_eval_warnings() -> None:
    """Drop lm-eval's `--metadata` hint for the project's tasks (idempotent)."""
    logger = logging.getLogger("lm_eval.api.task")
    if not any(isinstance(f, _ProjectTaskNoise) for f in logger.filters):
        logger.addFilter(_ProjectTaskNoise())


def saved_samples(store: Path) -> int:
    """Finished samples in a run's sample store (complete JSON lines of its rank files)."""
    count = 0
    for file in sorted(store.glob("rank*.jsonl")) if store.is_dir() else []:
        with open(file, "rb") as f:
            count += sum(1 for line in f if line.endswith(b"\n") and line.strip())
    return count


def interrupted(store: Path, argv: list[str]) -> str:
    """The line printed on Ctrl-C: what is saved and the command that resumes."""
    command = shlex.join(["mdlm-eval", *argv])
    n = saved_samples(store)
    saved = f"{n} finished sample{'s' if n != 1 else ''} saved in {store}" if n else "no finished sample saved yet"
    return f"interrupted: {saved}; resume with: {command}"


def offline_dataset(error: BaseException) -> UsageError | None:
    """A one-line UsageError for a hub dataset that could not be had offline, or None for any other error."""
    chain, seen = error, set()
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        unreachable = _UNREACHABLE.search(str(chain))
        if unreachable:
            dataset = unreachable.group(1)
            alternative = OFFLINE_ALTERNATIVES.get(dataset.split("/")[-1].lower())
            hint = (f"; offline, use --tasks {alternative} with MDLM_EVAL_DATA_DIR=<folder of the task files>"
                    if alternative else "; download it once online (it is then cached), or use the project's "
                    "mdlm_* tasks with MDLM_EVAL_DATA_DIR=<folder of the task files>")
            return UsageError(f"dataset {dataset} is not in the Hugging Face cache and the hub is offline "
                              f"(HF_DATASETS_OFFLINE/HF_HUB_OFFLINE){hint}")
        chain = chain.__cause__ or chain.__context__
    return None


def discard_if_empty(folder: Path, output_path: Path) -> None:
    """Remove a run folder that holds no file (a run that failed before saving anything), and the folders between
    it and `output_path` that it leaves empty."""
    if not folder.is_dir() or any(p.is_file() for p in folder.rglob("*")):
        return
    shutil.rmtree(folder, ignore_errors=True)
    parent, top = folder.parent.resolve(), output_path.resolve()
    while parent != top and top in parent.parents and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent
