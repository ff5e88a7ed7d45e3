"""Task data: schemas, d1's subsets and order, MDLM_EVAL_DATA_DIR, and the one-time verified download."""
from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mdlm_eval import data
from mdlm_eval.errors import UsageError

DATA_DIR = Path(os.environ["MDLM_EVAL_DATA_DIR"])


def test_docs_have_the_fixed_schemas() -> None:
    gsm8k, math500 = data.load_gsm8k(), data.load_math500()
    countdown, sudoku = data.load_countdown(), data.load_sudoku()
    assert (len(gsm8k), len(math500), len(countdown), len(sudoku)) == (1319, 500, 256, 256)
    assert gsm8k[0]["answer"] == 18.0 and gsm8k[0]["solution"].endswith("#### 18")
    assert {"problem", "answer", "solution", "subject", "level", "unique_id"} <= set(math500.column_names)
    assert countdown[0] == {"numbers": [49, 55, 53], "target": 51, "question": "Numbers: [49, 55, 53]\nTarget: 51"}
    assert sudoku[0] == {
        "puzzle": "4320004330100004",
        "solution": "4321124334122134",
        "question": "Solve the following Sudoku puzzle: 4320004330100004\n",
        "index": 361,
    }
    assert all(len(doc["puzzle"]) == len(doc["solution"]) == 16 for doc in sudoku)


def test_gsm8k_ground_truth_is_d1s(d1_items: dict) -> None:
    answers = {doc["question"]: doc["answer"] for doc in data.load_gsm8k()}
    assert all(answers[item["question"]] == item["ground_truth"] for item in d1_items["gsm8k_instruct_128_64"])


@pytest.mark.parametrize(
    ("load", "setup"),
    [(data.load_countdown, "countdown_instruct_128_64"), (data.load_sudoku, "sudoku_instruct_128_64")],
)
def test_countdown_and_sudoku_are_d1s_subset_in_d1s_order(d1_items: dict, load, setup: str) -> None:
    """d1 ran 7 ranks; rank r evaluated docs r, r + 7, r + 14, ... of its subset, in that order."""
    docs = list(load())
    expected = [doc for rank in range(7) for doc in docs[rank::7]]
    assert [item["question"] for item in d1_items[setup]] == [doc["question"] for doc in expected]
    truth = [item["ground_truth"] for item in d1_items[setup]]
    if "numbers" in docs[0]:
        assert truth == [[doc["numbers"], doc["target"]] for doc in expected]
    else:
        assert truth == [doc["solution"] for doc in expected]


def test_d1_subsample_is_numpys_seed_42_choice() -> None:
    import numpy as np

    np.random.seed(42)
    assert data.d1_subsample(500) == np.random.choice(500, 256, replace=False).tolist()


def test_a_missing_or_corrupt_file_names_itself_and_the_variable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MDLM_EVAL_DATA_DIR", str(tmp_path))
    with pytest.raises(UsageError, match=r"gsm8k_test\.jsonl is missing \(MDLM_EVAL_DATA_DIR is set"):
        data.load_gsm8k()
    (tmp_path / "sudoku_4x4_test.csv").write_text("Puzzle,Solution\n0000,1234\n")
    with pytest.raises(UsageError, match=r"sudoku_4x4_test\.csv: sha256 .* MDLM_EVAL_DATA_DIR") as error:
        data.load_sudoku()
    assert "\n" not in str(error.value)


def test_hub_failure_says_how_to_work_offline(monkeypatch) -> None:
    monkeypatch.delenv("MDLM_EVAL_DATA_DIR")

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'openai/gsm8k' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(data.datasets, "load_dataset", offline)
    with pytest.raises(UsageError, match="openai/gsm8k .*set MDLM_EVAL_DATA_DIR .*gsm8k_test.jsonl"):
        data.load_gsm8k()


class _Handler(SimpleHTTPRequestHandler):
    """Serves a folder; a path ending in `truncated` promises more bytes than it sends."""

    def do_GET(self) -> None:
        if self.path.endswith("4x4_test_sudoku.csv") and self.server.truncate:  # type: ignore[attr-defined]
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"Puzzle,Solution\n")
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def d1_server(tmp_path: Path, monkeypatch) -> Iterator[tuple[str, ThreadingHTTPServer, Path]]:
    """A local copy of d1's `dataset/` folder served on 127.0.0.1, an empty cache, no MDLM_EVAL_DATA_DIR."""
    root = tmp_path / "d1"
    (root / "dataset").mkdir(parents=True)
    shutil.copy(DATA_DIR / "countdown_cd3_test.jsonl", root / "dataset" / "countdown_cd3_test.jsonl")
    shutil.copy(DATA_DIR / "sudoku_4x4_test.csv", root / "dataset" / "4x4_test_sudoku.csv")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    server.truncate = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cache = tmp_path / "cache"
    monkeypatch.delenv("MDLM_EVAL_DATA_DIR")
    monkeypatch.setenv("MDLM_EVAL_CACHE", str(cache))
    yield f"http://127.0.0.1:{server.server_address[1]}", server, root
    server.shutdown()
    server.server_close()


def test_download_once_then_read_the_cache(d1_server) -> None:
    url, server, _ = d1_server
    cache = Path(os.environ["MDLM_EVAL_CACHE"])
    assert len(data.load_countdown(base_url=url)) == 256
    assert (cache / "countdown_cd3_test.jsonl").read_bytes() == (DATA_DIR / "countdown_cd3_test.jsonl").read_bytes()
    server.shutdown()
    assert data.load_countdown(base_url=url)[0]["target"] == 51
    assert sorted(p.name for p in cache.iterdir()) == ["countdown_cd3_test.jsonl"]


def test_the_base_url_comes_from_the_environment(d1_server, monkeypatch) -> None:
    url, _, _ = d1_server
    monkeypatch.setenv("MDLM_EVAL_DATA_URL", url)
    assert len(data.load_sudoku()) == 256


def test_a_wrong_download_is_refused_and_not_kept(d1_server) -> None:
    url, _, root = d1_server
    (root / "dataset" / "countdown_cd3_test.jsonl").write_text('{"input": "1,2,3", "output": "6"}\n')
    with pytest.raises(UsageError, match=r"countdown_cd3_test\.jsonl: download from .* has sha256 .*DATA_DIR"):
        data.load_countdown(base_url=url)
    assert list(Path(os.environ["MDLM_EVAL_CACHE"]).iterdir()) == []


def test_an_interrupted_download_is_an_error_and_leaves_nothing(d1_server) -> None:
    url, server, _ = d1_server
    server.truncate = True
    with pytest.raises(UsageError, match=r"sudoku_4x4_test\.csv: download from .* failed .*MDLM_EVAL_DATA_DIR"):
        data.load_sudoku(base_url=url)
    assert list(Path(os.environ["MDLM_EVAL_CACHE"]).iterdir()) == []


def test_a_missing_remote_file_is_an_error(d1_server) -> None:
    url, _, root = d1_server
    (root / "dataset" / "4x4_test_sudoku.csv").unlink()
    with pytest.raises(UsageError, match=r"sudoku_4x4_test\.csv: download .* failed \(HTTP Error 404"):
        data.load_sudoku(base_url=url)


def test_a_corrupt_cache_is_downloaded_again(d1_server) -> None:
    url, _, _ = d1_server
    cache = Path(os.environ["MDLM_EVAL_CACHE"])
    cache.mkdir()
    (cache / "sudoku_4x4_test.csv").write_text("Puzzle,Solution\n")
    assert len(data.load_sudoku(base_url=url)) == 256


def test_lm_eval_hooks_return_a_test_split() -> None:
    assert len(data.countdown_splits(version=1.0)["test"]) == 256
