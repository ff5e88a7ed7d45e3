"""The environment on record: the manifest's `environment`, the leaderboard's columns for fields that differ between
the rows it compares, wall time with its host and load, and published numbers from other hardware."""
from __future__ import annotations

import shutil
from pathlib import Path

from mdlm_eval.environment import COMPARED, environment
from mdlm_eval.leaderboard import REFERENCE_COLUMNS, build_leaderboard
from mdlm_eval.leaderboard.read import ENV
from tests.test_leaderboard import table_rows, write_run

LLADA = "GSAI-ML/LLaDA-8B-Instruct"


def test_environment_records_hardware_versions_numerics_host_and_load() -> None:
    env = environment("cpu", {"dtype": "torch.float32", "attention": "sdpa"}, [1.0, 2.0, 3.0], "abc123")
    assert env["device_name"].startswith("cpu (") and env["device_count"] == 1
    assert env["driver"] is None and env["cuda"] is None  # on the CPU
    assert {"torch", "transformers", "lm_eval", "peft", "mdlm-eval"} <= env.keys() and env["git_commit"] == "abc123"
    assert (env["dtype"], env["attention"], env["deterministic"]) == ("torch.float32", "sdpa", False)
    assert env["host"] and env["load_start"] == [1.0, 2.0, 3.0] and len(env["load_end"]) == 3
    assert list(ENV) == list(COMPARED)  # the leaderboard reads the fields the manifest compares


def env(torch: str = "2.13.0", device: str = "cpu (x86_64)", host: str = "box", load: float = 1.5) -> dict:
    return {"environment": {"device_name": device, "device_count": 1, "driver": None, "cuda": None, "torch": torch,
                            "dtype": "torch.float32", "attention": "sdpa", "deterministic": False, "host": host,
                            "load_start": [load, 1.0, 1.0], "load_end": [1.0, 1.0, 1.0]}}


def test_a_column_for_each_environment_field_that_differs_and_wall_time_with_host_and_load(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_run(root, decoder="aaa", scores={"toy_countdown": 0.5}, nfe=16, manifest=env(host="box", load=1.5))
    write_run(root, decoder="bbb", scores={"toy_countdown": 0.25}, nfe=16, manifest=env(host="gpu7", load=12.25))
    build_leaderboard(root, tmp_path / "same", reference_dir=None)
    md = (tmp_path / "same" / "leaderboard.md").read_text()
    header, rows = table_rows(md, "toy_countdown")
    assert "torch" not in header and "s/sample ran on (load)" in header  # same torch: no column
    host = header.index("s/sample ran on (load)")
    assert {r[0]: r[host] for r in rows} == {"aaa": "box (1.50)", "bbb": "gpu7 (12.25)"}
    assert "the comparable cost columns are" in md.lower()
    shutil.rmtree(root)
    write_run(root, decoder="aaa", scores={"toy_countdown": 0.5}, nfe=16, manifest=env(torch="2.13.0"))
    write_run(root, decoder="bbb", scores={"toy_countdown": 0.25}, nfe=16, manifest=env(torch="2.9.1"))
    build_leaderboard(root, tmp_path / "differ", reference_dir=None)
    header, rows = table_rows((tmp_path / "differ" / "leaderboard.md").read_text(), "toy_countdown")
    assert header[-1] == "torch" and {r[0]: r[-1] for r in rows} == {"aaa": "2.13.0", "bbb": "2.9.1"}


def test_a_published_number_from_other_hardware_is_flagged(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "paper.csv").write_text(",".join(REFERENCE_COLUMNS) + "\n"
                                         "LLaDA-8B-Instruct,,semi_ar,64,128,32,mdlm_gsm8k,acc,68.7,paper A,,A100\n"
                                         "LLaDA-8B-Instruct,,semi_ar,64,128,32,mdlm_gsm8k,acc,70.1,paper B,,H200\n")
    root = tmp_path / "results"
    write_run(root, model=LLADA, decoder="semi_ar", steps=64, gen_length=128, nfe=64.0,
              scores={"mdlm_gsm8k": (0.70, 0.0126)}, manifest=env(device="NVIDIA H200"))
    build_leaderboard(root, tmp_path / "out", reference_dir=reference)
    header, rows = table_rows((tmp_path / "out" / "leaderboard.md").read_text(), "Against published numbers (same "
                              "model and protocol; diff = ours - published, points)")
    by = {r[header.index("source")]: r[-1] for r in rows}
    assert by == {"paper A": "⚠ published on A100, ours on NVIDIA H200", "paper B": "H200"}


def test_a_reference_file_without_a_hardware_column_still_loads(tmp_path: Path) -> None:
    from mdlm_eval.leaderboard import load_reference

    (tmp_path / "old.csv").write_text(",".join(REFERENCE_COLUMNS[:-1]) + "\nm,,d,1,2,,t,acc,1,src,\n")
    frame = load_reference(tmp_path, lambda message: (_ for _ in ()).throw(AssertionError(message)))
    assert frame["hardware"].tolist() == [""]


def test_an_older_manifest_without_the_environment_adds_no_column(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_run(root, decoder="aaa", scores={"toy_countdown": 0.5}, nfe=16,
              manifest={"device": "cpu (x86_64, 1 threads)", "versions": {"torch": "2.13.0"}})
    write_run(root, decoder="bbb", scores={"toy_countdown": 0.25}, nfe=16, manifest=env())
    build_leaderboard(root, tmp_path / "out", reference_dir=None)
    header, _ = table_rows((tmp_path / "out" / "leaderboard.md").read_text(), "toy_countdown")
    assert not set(header) & set(ENV)  # same device and torch where both record them; the rest unknown on one
