"""Where the files that ship with mdlm-eval live: decoder presets, lm-eval tasks, published-number CSVs.

In a checkout they are the top-level `decoders/`, `tasks/` and `results/reference/` that users read and edit;
a wheel carries copies under `mdlm_eval/_data/` (setup.py puts them there), used when no checkout is around.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent
PACKAGED = PACKAGE / "_data"


def _shipped(*parts: str) -> Path:
    """The checkout's copy when this package runs from a checkout, else the copy inside the installed package."""
    checkout = CHECKOUT.joinpath(*parts)
    return checkout if (CHECKOUT / "pyproject.toml").is_file() and checkout.is_dir() else PACKAGED.joinpath(*parts)


PRESETS_DIR = _shipped("decoders")
TASKS_DIR = _shipped("tasks")
REFERENCE_DIR = _shipped("results", "reference")
TOY_DIR = PACKAGE / "models" / "toy"  # the toy's shipped checkpoint/ and adapters/<name>/
TOY_MODELS = {"toy": "checkpoint", "toy-bd": "checkpoint-bd"}  # shipped toy folders under TOY_DIR; toy-bd: block diffusion
TOY_ADAPTERS = ("toy-cj-grpo", "toy-diffu-grpo")  # LoRA adapters of the toy shipped in adapters/<name>
