"""mdlm_sudoku_spg: SPG's solution-disjoint Sudoku split as its own task, read from MDLM_EVAL_DATA_DIR (a file the
test writes, its sum put in place of the real file's), prompted and scored exactly as mdlm_sudoku."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
from lm_eval.tasks import TaskManager

from mdlm_eval import data
from mdlm_eval.errors import UsageError

TASKS_DIR = Path(__file__).resolve().parents[2] / "tasks"
SOLUTION = "1234341221434321"


def _puzzle(i: int) -> str:
    """A distinct puzzle per i (cells blanked by i's bits), each with SOLUTION as its answer."""
    return "".join("0" if (i >> (j % 9)) & 1 else c for j, c in enumerate(SOLUTION))


@pytest.fixture
def spg_dir(tmp_path, monkeypatch):
    text = "Puzzle,Solution\n" + "".join(f"{_puzzle(i)},{SOLUTION}\n" for i in range(256))
    (tmp_path / "sudoku_4x4_spg_test.csv").write_text(text)
    real = data.FILES["sudoku_spg"]
    monkeypatch.setitem(data.FILES, "sudoku_spg",
                        dataclasses.replace(real, sha256=hashlib.sha256(text.encode()).hexdigest()))
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(tmp_path))
    return tmp_path


def test_spg_file_is_pinned_to_spg():
    spec = data.FILES["sudoku_spg"]
    assert (spec.name, spec.rows, spec.d1_path) == ("sudoku_4x4_spg_test.csv", 256, "dataset/test_sudoku_split_new.csv")
    assert spec.repo_url == f"https://raw.githubusercontent.com/facebookresearch/SPG/{data.SPG_COMMIT}"


def test_loads_all_256_in_spg_order(spg_dir):
    docs = data.load_sudoku_spg()
    assert len(docs) == 256 and sorted(docs["index"]) == list(range(256))
    assert docs["index"] == data.d1_subsample(256)  # SPG: np.random.choice(256, 256, replace=False) under seed 42
    assert docs[0]["question"] == f"Solve the following Sudoku puzzle: {_puzzle(docs[0]['index'])}\n"


def test_missing_file_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(UsageError) as e:
        data.load_sudoku_spg()
    assert "\n" not in str(e.value)
    assert "sudoku_4x4_spg_test.csv is missing" in str(e.value)
    assert f"download https://raw.githubusercontent.com/facebookresearch/SPG/{data.SPG_COMMIT}/dataset/test_sudoku_split_new.csv there as sudoku_4x4_spg_test.csv" in str(e.value)


def test_task_prompts_and_scores_as_mdlm_sudoku(spg_dir):
    manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
    loaded = manager.load(["mdlm_sudoku_spg"])["tasks"]
    spg = loaded["mdlm_sudoku_spg"]
    def body(name: str) -> list[str]:  # the YAML without its comments, the task's own names made generic
        lines = (TASKS_DIR / name / f"{name}.yaml").read_text().splitlines()
        return [line.replace(name, "NAME").replace("sudoku_spg_splits", "sudoku_splits")
                for line in lines if not line.startswith("#")]

    assert body("mdlm_sudoku_spg") == body("mdlm_sudoku")  # everything but the data is mdlm_sudoku's
    doc = next(iter(spg.test_docs()))
    from mdlm_eval import templates
    from mdlm_eval.scoring import sudoku

    assert spg.doc_to_text(doc) == templates.mdlm_sudoku(doc) == sudoku.doc_to_text(doc)
    text = f"</reasoning>\n<answer>\n{SOLUTION}\n</answer>"
    assert spg.process_results(doc, [text]) == sudoku.process_results(doc, [text])
    assert spg.process_results(doc, [text])["solved"] == 1
