"""End to end on the toy: `mdlm-eval run`, `lm_eval --model mdlm`, torchrun, and a run killed half-way."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mdlm_eval.roofline import LLADA_8B, macs_per_token

BIN = Path(sys.executable).parent
RUN = [str(BIN / "mdlm-eval"), "run", "--decoder", "semi_ar", "--limit", "6", "--batch-size", "2"]


def sh(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)


def failure_lines(stderr: str) -> str:
    """What a failed launch said, without torchrun's own report."""
    return "\n".join(line for line in stderr.splitlines() if "torch/distributed" not in line)[:4000]


def generations(run_dir: Path) -> dict:
    """{(task, doc_id): response} from lm-eval's samples files."""
    out = {}
    for path in run_dir.rglob("samples_*.jsonl"):
        task = path.name.split("_20")[0].removeprefix("samples_")
        for line in path.read_text().splitlines():
            row = json.loads(line)
            out[(task, row["doc_id"])] = row["resps"][0][0]
    return out


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    proc = sh(RUN + ["--output-path", str(out), "--trace"])
    assert proc.returncode == 0, proc.stderr
    return out / "toy" / "semi_ar_steps-half_L32_bl8_limit6", proc


def test_run_writes_lm_eval_files_and_manifest(single):
    run_dir, proc = single
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["samples"] == 12
    assert manifest["steps"] == 16 and manifest["nfe_per_sample"] == 16 and manifest["tokens_per_forward"] == 2
    assert manifest["decoder_spec"]["block_length"] == 8 and manifest["versions"]["lm_eval"] == "0.4.13"
    assert manifest["block_length_from"] == "the model's config.json"  # the toy's block for the preset's 32
    env = manifest["environment"]  # the environment on record
    assert env["device_count"] == 1 and env["lm_eval"] == "0.4.13" and env["dtype"] == "torch.float32"
    assert {"device_name", "driver", "cuda", "torch", "transformers", "peft", "mdlm-eval", "git_commit", "attention",
            "deterministic", "host", "load_start", "load_end"} <= env.keys()
    results = json.loads((run_dir / manifest["results_file"]).read_text())
    assert set(results["results"]) == {"mdlm_toy", "mdlm_toy_sudoku", "mdlm_toy_countdown"}
    assert "decoder=semi_ar" in results["config"]["model_args"]
    rows = [json.loads(l) for p in run_dir.rglob("samples_*.jsonl") for l in p.read_text().splitlines()]
    assert len(rows) == 12 and all(r["nfe"] == 16 and len(r["trace_step"]) == 32 for r in rows)
    assert all(r["tpf"] == r["tokens_to_eos"] / 16 and 0 < r["tokens_to_eos"] <= 32 and r["prompt_tokens"] > 0
               for r in rows)
    assert manifest["tpf"] == pytest.approx(sum(r["tokens_to_eos"] for r in rows) / (12 * 16))
    blocks = [(0, 8), (8, 16), (16, 24), (24, 32)]  # the toy's block of 8
    per_token = [macs_per_token(LLADA_8B, r["prompt_tokens"], blocks, 16, "none") for r in rows]
    assert manifest["llada8b_macs_per_token"] == pytest.approx(sum(per_token) / 12)
    assert "reused 0 of 12 finished samples" in proc.stderr
    assert "mdlm_toy_sudoku  n 6, NFE/sample 16.0" in proc.stdout and f"written  {run_dir}" in proc.stdout
    sudoku = results["results"]["mdlm_toy_sudoku"]  # lm-eval's file carries the clustered SE of cell accuracy
    assert isinstance(sudoku["acc_stderr,none"], float)
    assert manifest["per_task"]["mdlm_toy_sudoku"]["stderr"]["acc"] == sudoku["acc_stderr,none"]
    assert f"± {100 * sudoku['acc_stderr,none']:.2f} %" in proc.stdout


def test_python_m_lm_eval_as_typed(tmp_path):
    """`python -m lm_eval` (as `accelerate launch -m` and `torchrun -m` start it) with the README's batch_size."""
    proc = sh([sys.executable, "-m", "lm_eval", "--model", "mdlm", "--model_args",
               "pretrained=toy,decoder=eoser_ass,steps=log,batch_size=16", "--tasks", "mdlm_toy_countdown",
               "--limit", "3", "--output_path", str(tmp_path), "--log_samples"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mdlm_toy_countdown" in proc.stdout and "reused" not in proc.stderr  # no store, nothing reused
    results = json.loads(next(tmp_path.rglob("results_*.json")).read_text())
    assert results["config"]["model"] == "mdlm" and "acc,none" in results["results"]["mdlm_toy_countdown"]
    assert results["config"]["device"] == ("cuda:0" if torch.cuda.is_available() else "cpu")  # not lm-eval's default
    rows = [json.loads(line) for line in next(tmp_path.rglob("samples_*.jsonl")).read_text().splitlines()]
    assert len(rows) == 3 and all(r["nfe"] == 5 and r["gen_length"] == 32 and r["seconds"] > 0 for r in rows)


def test_two_processes_give_the_same_samples(single, tmp_path):
    proc = sh([str(BIN / "torchrun"), "--nproc_per_node", "2", "-m", "mdlm_eval"] + RUN[1:]
              + ["--output-path", str(tmp_path), "--trace"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    run_dir = tmp_path / "toy" / "semi_ar_steps-half_L32_bl8_limit6"
    assert generations(run_dir) == generations(single[0])
    assert sorted((run_dir / "store").glob("rank*.jsonl")) == [run_dir / "store" / "rank0.jsonl",
                                                               run_dir / "store" / "rank1.jsonl"]


def test_killed_run_resumes_and_matches(single, tmp_path):
    args = RUN[:-1] + ["1", "--output-path", str(tmp_path), "--trace"]  # batch size 1: a store line per sample
    store = tmp_path / "toy" / "semi_ar_steps-half_L32_bl8_limit6" / "store" / "rank0.jsonl"
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and (not store.exists() or len(store.read_text().splitlines()) < 4):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(store.read_text().splitlines())
    assert 4 <= finished < 12
    assert not (store.parent.parent / "manifest.json").exists()

    again = sh(args)
    assert again.returncode == 0, again.stderr[-2000:]
    reused = int(again.stderr.split("reused ")[1].split(" of")[0])
    assert reused >= 4 and f"reused {reused} of 12 finished samples" in again.stderr
    assert generations(store.parent.parent) == generations(single[0])


def test_killed_rank_of_two_processes_resumes(single, tmp_path):
    import psutil

    args = [str(BIN / "torchrun"), "--nproc_per_node", "2", "-m", "mdlm_eval"] + RUN[1:-1] + ["1", "--output-path",
                                                                                              str(tmp_path), "--trace"]
    store = tmp_path / "toy" / "semi_ar_steps-half_L32_bl8_limit6" / "store"
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    rank1 = store / "rank1.jsonl"
    while time.time() < deadline and (not rank1.exists() or len(rank1.read_text().splitlines()) < 2):
        time.sleep(0.05)
    victims = [p for p in psutil.Process(proc.pid).children(recursive=True) if p.environ().get("RANK") == "1"]
    assert victims
    for victim in victims:
        victim.kill()
    proc.wait(timeout=120)
    assert proc.returncode != 0
    finished = sum(len(f.read_text().splitlines()) for f in store.glob("rank*.jsonl"))
    assert 2 <= finished < 12

    again = sh(args)
    assert again.returncode == 0, failure_lines(again.stderr)
    assert generations(store.parent) == generations(single[0])


def test_wino_runs_on_the_toy(monkeypatch, capsys, tmp_path):
    """WINO's shadow-block forward needs position_ids and a [b, 1, T, T] mask: the toy takes both."""
    from tests.cli_helpers import run_cli

    code, out, err = run_cli(monkeypatch, capsys, "run", "--decoder", "wino", "--tasks", "mdlm_toy_countdown",
                             "--limit", "3", "--batch-size", "2", "--output-path", str(tmp_path))
    assert code == 0, err
    manifest = json.loads(next(tmp_path.rglob("manifest.json")).read_text())
    assert manifest["status"] == "complete" and manifest["samples"] == 3
    assert manifest["decoder_spec"]["commit"] == "wino" and manifest["nfe_per_sample"] > 0
