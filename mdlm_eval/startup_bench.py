"""`make bench` (start-up part): how long `mdlm-eval run` takes to its first decoded sample and to its errors.

    python -m mdlm_eval.startup_bench            # the commands, timed as a user runs them
    python -m mdlm_eval.startup_bench --stages   # also where one start-up's time goes, stage by stage

Each command runs in a fresh process, as a user runs it; `seconds` is the wall time, `cpu` the CPU time of the
process (user + system), which a busy machine leaves unchanged. The first decoded sample is the moment the progress
bar first reports forward passes (`nfe=`), that is when the first batch is decoded.

Then the early errors: each mistake's answer time over the time of a bare `python -c "import torch"` on the same
machine (`ratio`, wall and CPU; the goal is at most 2: every argument is checked before torch is imported, see
`mdlm_eval.early_checks`; `lm_eval --model mdlm` checks its model arguments as its command line starts, before
lm-eval indexes tasks and imports torch, through `_mdlm_eval_hook.py`).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

FIRST_SAMPLE = b"nfe="
STAGES = r"""
import resource, sys, time
last = time.perf_counter()
def mark(name):
    global last
    now, usage = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    print(f"{name}\t{now - last:.2f}\t{usage.ru_utime + usage.ru_stime:.2f}", flush=True)
    last = now
import torch; mark("import torch")
import transformers.modeling_utils; mark("import transformers.modeling_utils")
import lm_eval.evaluator, lm_eval.loggers; mark("import lm_eval (evaluator, loggers: datasets, pandas)")
import mdlm_eval.lm_eval_model; mark("import mdlm_eval.lm_eval_model")
from lm_eval.tasks import TaskManager, get_task_dict
from mdlm_eval.startup import TASKS_DIR
if sys.argv[1] == "full":
    TaskManager(include_path=str(TASKS_DIR)); mark("TaskManager, lm-eval's whole index (before)")
manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False); mark("TaskManager, the project's tasks")
get_task_dict(["mdlm_toy_countdown"], manager); mark("task and data (mdlm_toy_countdown)")
from mdlm_eval.lm_eval_model import MDLMLM
lm = MDLMLM(pretrained="toy"); mark("model load (toy)")
"""


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a running process has used so far, from /proc (Linux), else None."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(command: list[str], env: dict) -> tuple[float, float, tuple[float, float | None] | None, str]:
    """(wall seconds, CPU seconds, (wall, CPU) seconds to the first decoded sample or None, last stderr line)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    err, first = b"", None
    while chunk := os.read(process.stderr.fileno(), 65536):
        err += chunk
        if first is None and FIRST_SAMPLE in err:
            first = time.perf_counter() - start, process_cpu(process.pid)
    process.wait()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = [line for line in err.decode(errors="replace").replace("\r", "\n").splitlines() if line.strip()]
    return wall, cpu, first, lines[-1] if lines else ""


def mistakes(folder: str) -> list[tuple[str, list[str]]]:
    """(mistake, command) for each argument `mdlm_eval.early_checks` answers before anything heavy loads."""
    run = [sys.executable, "-m", "mdlm_eval", "run", "--output-path", os.path.join(folder, "runs")]
    missing = os.path.join(folder, "missing")
    return [
        ("unknown decoder", [*run, "--decoder", "nope"]),
        ("decoder file missing", [*run, "--decoder", missing + ".yaml"]),
        ("--steps 0", [*run, "--steps", "0"]),
        ("steps fewer than blocks", [*run, "--decoder", "semi_ar", "--steps", "2"]),
        ("wino with a cache", [*run, "--decoder", "wino", "--cache", "prefix"]),
        ("missing model folder", [*run, "--model", missing]),
        ("model folder without config", [*run, "--model", folder]),
        ("missing adapter folder", [*run, "--peft", missing]),
        ("lm_eval --model_args decodr=", [sys.executable, "-m", "lm_eval", "--model", "mdlm", "--model_args",
                                          "decodr=semi_ar", "--tasks", "mdlm_toy_countdown"]),
    ]


def early_errors(env: dict) -> None:
    base_wall, base_cpu, _, _ = timed([sys.executable, "-c", "import torch"], env)
    print(f"\nearly errors against a bare `python -c \"import torch\"` ({base_wall:.2f} s, cpu {base_cpu:.2f} s)")
    print(f"{'mistake':30s} {'seconds':>8s} {'cpu':>6s} {'ratio':>6s} {'cpu ratio':>9s}   answer")
    with tempfile.TemporaryDirectory() as folder:
        for name, command in mistakes(folder):
            wall, cpu, _, last = timed(command, env)
            print(f"{name:30s} {wall:8.2f} {cpu:6.2f} {wall / base_wall:6.2f} {cpu / base_cpu:9.2f}   {last[:70]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", action="store_true", help="also time each start-up stage in one process")
    parser.add_argument("--full-index", action="store_true", help="with --stages, also build lm-eval's whole index")
    parser.add_argument("--errors-only", action="store_true", help="only the early errors against `import torch`")
    args = parser.parse_args(argv)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if args.errors_only:
        return early_errors(env)
    run = [sys.executable, "-m", "mdlm_eval", "run"]
    with tempfile.TemporaryDirectory() as out:
        cases = [
            ("unknown task: one-line error", [*run, "--tasks", "no_such_task", "--output-path", out]),
            ("unknown model: one-line error", [*run, "--model", "no-such/model", "--output-path", out]),
            ("toy, first run: first decoded sample", [*run, "--limit", "1", "--output-path", out]),
            ("toy, rerun: every sample reused", [*run, "--limit", "1", "--output-path", out]),
        ]
        print(f"mdlm-eval run start-up, {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}")
        print(f"{'command':38s} {'seconds':>8s} {'cpu':>6s}   {'1st sample: seconds':>19s} {'cpu':>5s}")
        for name, command in cases:
            wall, cpu, first, last = timed(command, env)
            first_wall = f"{first[0]:.2f}" if first else "-"
            first_cpu = f"{first[1]:.2f}" if first and first[1] is not None else "-"
            print(f"{name:38s} {wall:8.2f} {cpu:6.2f}   {first_wall:>19s} {first_cpu:>5s}   {last[:60]}")
    early_errors(env)
    if args.stages:
        print(f"\none start-up, stage by stage{' (with the whole index)' if args.full_index else ''}")
        print(f"{'stage':55s} {'seconds':>8s} {'cpu so far':>10s}")
        out = subprocess.run([sys.executable, "-c", STAGES, "full" if args.full_index else "project"], env=env,
                             capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            name, seconds, cpu = line.split("\t")
            print(f"{name:55s} {float(seconds):8.2f} {float(cpu):10.2f}")


if __name__ == "__main__":
    main()
