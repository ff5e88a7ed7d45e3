"""d1's training sets through mdlm_eval.data and the trainer's d1_* tasks, against d1's own loader.

The reference (fixtures/d1_train/d1_reference.json) was made by running d1's `diffu-grpo/data_utils.py` on the
small files `write_files` writes (fixtures/d1_train/README.md says how); these tests write the same files.
"""
import json
import os
import random
from pathlib import Path

import pytest

from mdlm_eval import data
from mdlm_eval.errors import UsageError
from mdlm_eval.training import tasks
from mdlm_eval.training.rewards import REWARDS

SHARED = Path(os.environ.get(data.DATA_DIR_VARIABLE) or "/nonexistent")  # the shared task files, if any
REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "d1_train" / "d1_reference.json").read_text())


def write_files(folder: Path) -> None:
    """The reference's inputs: 1,200 Countdown rows (a third with 4 numbers), 700 Sudoku rows, 40 GSM8K, 30 MATH."""
    random.seed(0)
    with open(folder / "countdown_3to4_train.jsonl", "w") as f:
        for i in range(1200):
            k = 3 if i % 3 else 4
            f.write(json.dumps({"nums": [random.randint(1, 99) for _ in range(k)], "target": random.randint(1, 300)}) + "\n")
    with open(folder / "sudoku_4x4_unique_puzzles.csv", "w") as f:
        f.write("Puzzle,Solution\n")
        for i in range(700):
            f.write(f"{i:016d},{(i * 7) % 10**16:016d}\n")
    with open(folder / "gsm8k_train.jsonl", "w") as f:
        for i in range(40):
            f.write(json.dumps({"question": f"q{i} {{x}}?", "answer": f"work\n#### {i * 3}"}) + "\n")
    with open(folder / "math_train.jsonl", "w") as f:
        for i in range(30):
            f.write(json.dumps({"problem": f"p{i} $\\{{a\\}}$", "solution": f"so \\boxed{{{i}}}", "answer": str(i)}) + "\n")


def pin_small_sudoku(monkeypatch, path: Path) -> None:
    """The small Sudoku file stands in for d1's: pin its git object id in place of d1's."""
    import dataclasses

    spec = dataclasses.replace(data.TRAIN_FILES["sudoku"], git_blob=data.git_blob_id(path.read_bytes()))
    monkeypatch.setitem(data.TRAIN_FILES, "sudoku", spec)


@pytest.fixture
def train_dir(tmp_path, monkeypatch):
    write_files(tmp_path)
    pin_small_sudoku(monkeypatch, tmp_path / "sudoku_4x4_unique_puzzles.csv")
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(tmp_path))
    tasks._d1_sets.cache_clear()
    yield tmp_path
    tasks._d1_sets.cache_clear()


KEY = {"countdown": "numbers", "sudoku": "puzzle", "gsm8k": "question", "math": "problem"}


@pytest.mark.parametrize("kind", ["countdown", "sudoku", "gsm8k", "math"])
def test_d1_order_prompts_and_answers(train_dir, kind):
    train, heldout = data.load_d1_train(kind, seed=42)
    ref = REFERENCE[kind]
    assert len(train) == ref["n"]
    assert [d[KEY[kind]] for d in train] == ref["order"]  # d1's filter, shuffle(seed=42) and last-500 split
    assert [tasks.d1_message(d) for d in train[:3]] == ref["first"]  # d1's training prompts, character for character
    if kind == "countdown":
        assert [d["target"] for d in train[:3]] == ref["answers"]
        assert len(heldout) == 500 and all(len(d["numbers"]) == 3 for d in train + heldout)
    elif kind == "sudoku":
        assert len(heldout) == 500 and not {d["puzzle"] for d in heldout} & {d["puzzle"] for d in train}
    elif kind == "gsm8k":
        assert [d["answer"] for d in train[:3]] == [float(a) for a in ref["answers"]] and heldout == []
    else:
        assert [d["answer"] for d in train[:3]] == [a.removeprefix("so \\boxed{").rstrip("}") for a in ref["answers"]]


def test_another_seed_another_order(train_dir):
    assert [d["puzzle"] for d in data.load_d1_train("sudoku", 7)[0]] != REFERENCE["sudoku"]["order"]


@pytest.mark.parametrize("kind", ["countdown", "sudoku", "gsm8k", "math"])
def test_task_streams_and_rewards(train_dir, kind):
    task = tasks.get_task(f"d1_{kind}")
    assert task.num_iterations == (8 if kind in ("countdown", "sudoku") else 12)
    first, second = task.docs(42, 0, 4), task.docs(42, 1, 4)
    assert [d[KEY[kind]] for d in first + second] == REFERENCE[kind]["order"][:8]
    n = REFERENCE[kind]["n"]
    wrapped = task.docs(42, n // 4, 4)  # past the end: the next epoch from the start
    assert wrapped[-1][KEY[kind]] == REFERENCE[kind]["order"][(n // 4 * 4 + 3) % n]
    # the probe answer is in d1's strict format with the gold answer: d1's rewards give it their most (Countdown's
    # probe misses the target: 0.1; the made-up grids are no Sudoku, but d1's cell reward compares with the
    # solution column; GSM8K: xmlcount 0.5 + strict 0.5 + int 0.5 + correct 2, d1's soft format never matches a
    # reasoning of several lines; MATH: correct 2 + tags 0.75)
    best = {"countdown": 0.1, "sudoku": 1.0, "gsm8k": 3.5, "math": 2.75}[kind]
    for d in first:
        assert sum(REWARDS[kind][name](d, task.answer(d)) for name in task.rewards[kind]) == best


def test_heldout_never_trained_on(train_dir, monkeypatch):
    task = tasks.get_task("d1_sudoku")
    held = {d["puzzle"] for d in task.heldout(42, 500)}
    trained = {d["puzzle"] for i in range(60) for d in task.docs(42, i, 4)}
    assert len(held) == 500 and not held & trained


@pytest.mark.skipif(not (SHARED / "gsm8k_test.jsonl").is_file(), reason="needs the GSM8K test file in MDLM_EVAL_DATA_DIR")
def test_gsm8k_heldout_is_the_test_set(train_dir):
    (train_dir / "gsm8k_test.jsonl").symlink_to(SHARED / "gsm8k_test.jsonl")
    held = tasks.get_task("d1_gsm8k").heldout(42, 3)
    assert [d["kind"] for d in held] == ["gsm8k"] * 3 and held[0]["question"] == data.load_gsm8k()[0]["question"]


def test_the_sudoku_pin_is_the_object_id_in_d1s_tree():
    """d1's tree at D1_COMMIT lists dataset/4x4_test_sudoku.csv as 508c410e... (`git ls-tree`), and the shared
    test file (sha256-pinned in data.FILES) has that id: the id pins the bytes d1's repository serves."""
    assert data.git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"  # `git hash-object`
    assert data.TRAIN_FILES["sudoku"].git_blob == "8528d3289938732ccf10fb04c936c5b6840c3ff3"
    if (SHARED / "sudoku_4x4_test.csv").is_file():
        assert data.git_blob_id((SHARED / "sudoku_4x4_test.csv").read_bytes()) == "508c410ed6d26e2c686eb782b2846bc6d8e2b225"


def test_spg_sudoku_is_spgs_split_loaded_as_d1_loads_its_own(tmp_path, monkeypatch):
    """SPG's diffu_grpo_train.py (`sudoku_new`) runs d1's loader on its own training file: read_csv, shuffle(seed),
    the last 500 held out; so on the same rows the order is the reference's. The file is SPG's, pinned by its git
    object id in SPG's tree, and the task prompts and rewards as d1_sudoku."""
    import dataclasses

    write_files(tmp_path)
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(tmp_path))
    spg = tmp_path / "sudoku_4x4_spg_train.csv"
    with pytest.raises(UsageError, match=r"sudoku_4x4_spg_train.csv is missing.*download https://raw.githubusercontent"
                                         r".com/facebookresearch/SPG/a1c7120\w+/dataset/train_sudoku_split_new.csv"):
        data.load_d1_train("sudoku_spg")
    (tmp_path / "sudoku_4x4_unique_puzzles.csv").rename(spg)
    assert data.TRAIN_FILES["sudoku_spg"].git_blob == "e0a4d901fb286a88fc3cfbceb70bdf19cddc2970"
    with pytest.raises(UsageError, match=r"is not that of SPG's dataset/train_sudoku_split_new.csv \(e0a4d901fb28\.\.\. "
                                         r"at commit a1c7120\)"):
        data.load_d1_train("sudoku_spg")
    spec = dataclasses.replace(data.TRAIN_FILES["sudoku_spg"], git_blob=data.git_blob_id(spg.read_bytes()))
    monkeypatch.setitem(data.TRAIN_FILES, "sudoku_spg", spec)
    tasks._d1_sets.cache_clear()
    try:
        train, held = data.load_d1_train("sudoku_spg")
        assert [d["puzzle"] for d in train] == REFERENCE["sudoku"]["order"] and len(held) == 500
        task = tasks.get_task("spg_sudoku")
        assert task.kinds == ("sudoku",) and task.rewards["sudoku"] == ("d1_sudoku",) and task.num_iterations == 8
        first = task.docs(42, 0, 2)
        assert [d["puzzle"] for d in first] == REFERENCE["sudoku"]["order"][:2] and first[0]["kind"] == "sudoku"
        assert tasks.d1_message(first[0]) == REFERENCE["sudoku"]["first"][0]  # d1's Sudoku training prompt
        assert [d["puzzle"] for d in task.heldout(42, 3)] == [d["puzzle"] for d in held[:3]]
    finally:
        tasks._d1_sets.cache_clear()


def test_missing_file_names_it_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(UsageError) as e:
        data.load_d1_train("countdown")
    msg = str(e.value)
    assert "\n" not in msg and "countdown_3to4_train.jsonl is missing" in msg
    assert "load_dataset('Jiayi-Pan/Countdown-Tasks-3to4', split='train').to_json('countdown_3to4_train.jsonl')" in msg
    with pytest.raises(UsageError, match=r"sudoku_4x4_unique_puzzles.csv is missing.*download https://raw.githubusercontent.com/dllm-reasoning/d1/837888f22c21a5da91a0af2b0d7b19e81d9b47ec/dataset/4x4_sudoku_unique_puzzles.csv"):
        data.load_d1_train("sudoku")
    with pytest.raises(UsageError, match="'openai/gsm8k', 'main', split='train'"):
        data.load_d1_train("gsm8k")


def test_bad_files(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(tmp_path))
    (tmp_path / "gsm8k_train.jsonl").write_text(json.dumps({"problem": "x"}) + "\n")
    with pytest.raises(UsageError, match="gsm8k_train.jsonl: its rows lack question, answer"):
        data.load_d1_train("gsm8k")
    (tmp_path / "sudoku_4x4_unique_puzzles.csv").write_text("Puzzle,Solution\n" + "0" * 16 + "," + "1" * 16 + "\n")
    with pytest.raises(UsageError, match=r"sudoku_4x4_unique_puzzles.csv: git object id [0-9a-f]{12}\.\.\. is not "
                                         r"that of d1's dataset/4x4_sudoku_unique_puzzles.csv \(8528d3289938\.\.\. at "
                                         r"commit 837888f\)"):
        data.load_d1_train("sudoku")
    pin_small_sudoku(monkeypatch, tmp_path / "sudoku_4x4_unique_puzzles.csv")
    with pytest.raises(UsageError, match="has 1 usable rows; d1 holds out the last 500"):
        data.load_d1_train("sudoku")
    with pytest.raises(UsageError, match="there is no training set 'mbpp'"):
        data.load_d1_train("mbpp")


def test_d1_sudoku_download_from_a_local_server(tmp_path, monkeypatch):
    """Without MDLM_EVAL_DATA_DIR the Sudoku file comes from d1's repository (here: a local mirror), cached."""
    import functools
    import http.server
    import threading

    mirror = tmp_path / "mirror" / "dataset"
    mirror.mkdir(parents=True)
    write_files(tmp_path)
    (tmp_path / "sudoku_4x4_unique_puzzles.csv").rename(mirror / "4x4_sudoku_unique_puzzles.csv")
    pin_small_sudoku(monkeypatch, mirror / "4x4_sudoku_unique_puzzles.csv")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "mirror"))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.delenv(data.DATA_DIR_VARIABLE, raising=False)
        monkeypatch.setenv(data.CACHE_VARIABLE, str(tmp_path / "cache"))
        monkeypatch.setenv(data.URL_VARIABLE, f"http://127.0.0.1:{server.server_port}")
        train, _ = data.load_d1_train("sudoku")
        assert [d["puzzle"] for d in train] == REFERENCE["sudoku"]["order"]
        cached = tmp_path / "cache" / "sudoku_4x4_unique_puzzles.csv"
        cached.write_text("Puzzle,Solution\n")  # a cached copy that is not the pinned file is fetched again
        assert [d["puzzle"] for d in data.load_d1_train("sudoku")[0]] == REFERENCE["sudoku"]["order"]
        (mirror / "4x4_sudoku_unique_puzzles.csv").write_text("Puzzle,Solution\n")  # the mirror serves other bytes
        cached.unlink()
        with pytest.raises(UsageError, match="has git object id .* expected"):
            data.load_d1_train("sudoku")
        assert not cached.exists()  # nothing unverified is kept
    finally:
        server.shutdown()


def test_the_trainer_runs_a_d1_task_end_to_end(train_dir, tmp_path, monkeypatch):
    """One CJ-GRPO step of the toy on d1's Sudoku set: the task by name, its docs, rewards, held-out set, log and
    adapter. The toy's short prompt stands in for d1's long one, which only makes the toy's decode slower."""
    import dataclasses

    from mdlm_eval.models.toy.prompts import sudoku_prompt
    from mdlm_eval.training.config import load_config

    short = dataclasses.replace(tasks.TASKS["d1_sudoku"], message=lambda d: sudoku_prompt(d["puzzle"]))
    monkeypatch.setitem(tasks.TASKS, "d1_sudoku", short)
    from mdlm_eval.training.diagnostics import read_tsv
    from mdlm_eval.training.trainer import train

    cfg = load_config("toy", task="d1_sudoku", rewards=None, batch_size=6, grad_accum=1, num_iterations=1, lora_r=4,
                      lora_alpha=8, threads=1, steps=1, eval_every=1, eval_prompts=2)
    train(cfg, tmp_path / "o", warn=lambda _: None)
    assert read_tsv(tmp_path / "o" / "log.tsv")["step"] == [1]
    assert read_tsv(tmp_path / "o" / "eval.tsv")["prompts"] == [2, 2]
    assert (tmp_path / "o" / "adapter" / "adapter_config.json").is_file()
