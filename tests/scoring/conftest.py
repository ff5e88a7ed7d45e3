"""Fixtures of the scoring tests: d1's published generations (beside the task data, see tests/conftest.py)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def d1_baselines() -> Path:
    """The folder of d1's LLaDA-8B-Instruct generations: ../d1_baselines beside MDLM_EVAL_DATA_DIR."""
    return Path(os.environ["MDLM_EVAL_DATA_DIR"]).parent / "d1_baselines"


@pytest.fixture(scope="session")
def d1_items(d1_baselines: Path):
    """setup name -> d1's items ({question, generations, ground_truth}) of all ranks, in rank order."""
    setups: dict[str, list[tuple[int, list[dict]]]] = {}
    for path in d1_baselines.glob("*_generations.json"):
        setup, rank = re.fullmatch(r"(.+)_(\d+)_generations\.json", path.name).groups()
        setups.setdefault(setup, []).append((int(rank), json.loads(path.read_text())["generations"]))
    return {setup: [item for _, items in sorted(ranks) for item in items] for setup, ranks in setups.items()}
