"""Third-party chatter (Python warnings such as transformers' FutureWarnings, and the log records of
transformers, peft, accelerate and torch) kept off the terminal and written to a log file instead."""
from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

LIBRARIES = ("transformers", "peft", "accelerate", "torch", "datasets")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.levelname}: {record.getMessage()}")


@contextmanager
def to_log(path: Path):
    """Within the block, warnings and third-party log records go to `path` (appended, written when the block
    ends, however it ends: the folder may have to stay empty until the code inside has checked it). Yields the
    list of lines collected so far."""
    collect = _Collect()
    loggers = [logging.getLogger(name) for name in LIBRARIES]
    saved = [(logger, logger.handlers[:], logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.handlers, logger.propagate = [collect], False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")  # each distinct warning once, as Python shows them by default
            try:
                yield collect.lines
            finally:
                collect.lines += [f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}" for w in caught]
    finally:
        for logger, handlers, propagate in saved:
            logger.handlers, logger.propagate = handlers, propagate
        if collect.lines:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as log:
                log.write("".join(line + "\n" for line in collect.lines))
