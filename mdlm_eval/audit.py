"""`mdlm-eval audit`: does this model, decoder and task give the same answers however the run is organised, and
does its score measure what it should?

On N documents, each in its own throw-away output folder:
- batch: batch size 1 against batch size B (padding and batch composition must not change an answer);
- processes: one process against two (torchrun, gloo on the CPU); skipped where torchrun cannot start two;
- cache: a cached decode against the same decoder uncached, where the cache is exact (every step of a block is
  its first, which refills the cache: one step per block); skipped where it approximates;
- resume: a run that finds half of its samples in its store against the fresh run;
- rescore: lm-eval's score against `mdlm-eval rescore` of the same generations (the project's scorers);
and the failures that pass unnoticed:
- zero metric: a metric that is 0 on every document (a scorer that never matches, a broken task);
- masks left: samples whose text still holds the model's mask token;
- no answer: a scorer that finds no answer (no box, no <answer> block, no grid) in most samples.

Generations are compared document by document (lm-eval's `resps`); every check is one line, PASS, FAIL or
SKIP with its reason, and the command exits 1 when one fails.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mdlm_eval.errors import UsageError
from mdlm_eval.runner import RunConfig, run_dir, run_evaluation

NO_ANSWER_SHARE = 0.5  # "most samples"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: skipped
    detail: str

    def line(self) -> str:
        return f"{'SKIP' if self.ok is None else 'PASS' if self.ok else 'FAIL'}  {self.name:<12} {self.detail}"


@dataclass
class Outcome:
    """One run of the audit: its folder, manifest and lm-eval scores, and every sample by task and document."""

    folder: Path
    manifest: dict
    results: dict  # lm-eval's results: {task: {"<metric>,<filter>": value}}
    samples: dict[str, dict[str, dict]]  # task -> doc_hash -> lm-eval's sample row
    samples_files: dict[str, Path]


def read_outcome(folder: Path) -> Outcome:
    """A finished run folder as an Outcome (its newest results file and that file's samples)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    results_file = folder / manifest["results_file"]
    date = results_file.stem.removeprefix("results_")
    samples, files = {}, {}
    for path in sorted(results_file.parent.glob(f"samples_*_{date}.jsonl")):
        task = path.name.removeprefix("samples_").removesuffix(f"_{date}.jsonl")
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        samples[task] = {str(r.get("doc_hash") or r["doc_id"]): r for r in rows}
        files[task] = path
    return Outcome(folder, manifest, json.loads(results_file.read_text())["results"], samples, files)


def evaluate(config: RunConfig) -> Outcome:
    """Run `config` in this process; its outcome."""
    run_evaluation(config)
    return read_outcome(run_dir(config))


def two_processes(config: RunConfig) -> Outcome | str:
    """`config` under torchrun with two processes; its outcome, or why it cannot run."""
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        return "torchrun is not installed beside this Python"
    import torch

    if str(config.device or "").startswith("cuda") or (config.device is None and torch.cuda.is_available()):
        if torch.cuda.device_count() < 2:
            return "one GPU: two processes need two"
    done = subprocess.run([str(torchrun), "--nproc_per_node", "2", "-m", "mdlm_eval", *cli_args(config)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"torchrun failed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}"
    return read_outcome(run_dir(config))


def cli_args(config: RunConfig) -> list[str]:
    """`mdlm-eval run` arguments that give `config`."""
    options = {"--model": config.model, "--peft": config.peft, "--decoder": config.decoder, "--steps": config.steps,
               "--gen-length": config.gen_length, "--block-length": config.block_length,
               "--block-num": config.block_num, "--temperature": config.temperature, "--cache": config.cache,
               "--threshold": config.threshold, "--tasks": ",".join(config.tasks) if config.tasks else None,
               "--limit": config.limit, "--batch-size": config.batch_size, "--output-path": config.output_path,
               "--seed": config.seed, "--device": config.device}
    args = ["run"] + [str(x) for k, v in options.items() if v is not None for x in (k, v)]
    return args + ([] if config.native else ["--no-native"])


# ---- comparisons ----


def generations(outcome: Outcome) -> dict[tuple[str, str], tuple[str, ...]]:
    """Each document's distinct generations (lm-eval repeats a request on a rank that has one document fewer)."""
    return {(task, doc): tuple(dict.fromkeys(flatten(row.get("resps"))))
            for task, rows in outcome.samples.items() for doc, row in rows.items()}


def flatten(value: object) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in flatten(item)]
    return [value] if isinstance(value, str) else []


def same_generations(name: str, a: Outcome, b: Outcome, what: str) -> Check:
    ga, gb = generations(a), generations(b)
    if set(ga) != set(gb):
        return Check(name, False, f"{what}: different documents ({len(ga)} against {len(gb)})")
    differ = sorted(k for k in ga if ga[k] != gb[k])
    if differ:
        task, doc = differ[0]
        return Check(name, False, f"{what}: {len(differ)} of {len(ga)} generations differ (first: {task} document "
                                  f"{a.samples[task][doc].get('doc_id')})")
    return Check(name, True, f"{what}: all {len(ga)} generations identical")


def cache_is_exact(config: RunConfig, gen_length: int) -> tuple[bool, str]:
    """Whether the decoder's cache gives exactly the uncached logits: every step of a block is its first (one step
    per block), where the cache is refilled by a full forward."""
    spec = config.spec()
    if spec.cache == "none":
        return False, "the decoder runs without a cache (nothing to compare)"
    steps = spec.resolve_steps(gen_length)
    blocks = gen_length // spec.block_length if spec.block_length else 1
    if spec.schedule != "uniform" or spec.adaptive or steps != blocks:
        return False, (f"cache={spec.cache} approximates: it reuses keys and values across the steps of a block "
                       f"(exact only with one step per block)")
    return True, ""


def rescore_check(outcome: Outcome) -> Check:
    """lm-eval's score of each task against `mdlm-eval rescore` of the same samples files."""
    from mdlm_eval.rescore import rescore
    from mdlm_eval.scoring import ROBUST_METRIC, task_from_name

    compared, differ = 0, []
    for task, path in outcome.samples_files.items():
        kind = task_from_name(task)
        if kind is None:
            continue
        report = rescore([path], fmt="samples", task=kind)
        if report.errors or not report.setups:
            differ.append(f"{task}: rescore could not read it ({'; '.join(report.errors)})")
            continue
        scored = next(iter(report.setups.values()))
        for metric, value in (("acc", scored["accuracy"]), (ROBUST_METRIC[kind], scored[ROBUST_METRIC[kind]]["accuracy"])):
            ours = outcome.results.get(task, {}).get(f"{metric},none")
            if ours is None:
                continue
            compared += 1
            if abs(100 * ours - value) > 1e-6:
                differ.append(f"{task}/{metric}: lm-eval {100 * ours:.2f}, rescored {value:.2f}")
    if not compared:
        return Check("rescore", None, "no task of the project's scorers (gsm8k, math500, countdown, sudoku)")
    if differ:
        return Check("rescore", False, "; ".join(differ))
    return Check("rescore", True, f"{compared} scores equal to the rescored generations")


def zero_metric_check(outcome: Outcome) -> Check:
    zero = []
    for task, rows in outcome.samples.items():
        for metric in dict.fromkeys(m for r in rows.values() for m in r.get("metrics") or []):
            values = [r.get(metric) for r in rows.values()]
            if values and all(score_of(v) == 0 for v in values):
                zero.append(f"{task}/{metric}")
    if zero:
        return Check("zero metric", False, f"0 on every document: {', '.join(zero)} (a scorer that never matches?)")
    return Check("zero metric", True, "every metric scores above 0 on some document")


def score_of(value: object) -> float:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0])
    return float(value) if isinstance(value, (int, float)) else 0.0


def masks_left_check(outcome: Outcome, mask_text: str | None) -> Check:
    if not mask_text:
        return Check("masks left", None, "the model's mask token has no text")
    rows = [r for rows in outcome.samples.values() for r in rows.values()]
    left = [r for r in rows if mask_text in json.dumps(r.get("resps"), ensure_ascii=False)]
    if left:
        return Check("masks left", False, f"{len(left)} of {len(rows)} samples still hold {mask_text}")
    return Check("masks left", True, f"no sample holds {mask_text}")


def answer_found(kind: str, text: str) -> bool:
    """Whether the task's scorer finds an answer in a generation at all (whether right or wrong)."""
    from mdlm_eval.scoring import gsm8k, math500, sudoku
    from mdlm_eval.scoring.boxes import d1_answer_block

    if kind == "countdown":  # d1 reads the whole text when there is neither; that is no answer
        return "\\boxed" in text or d1_answer_block(text) is not None
    if kind == "sudoku":
        return sudoku.extract_grid(text) != ""
    return (gsm8k if kind == "gsm8k" else math500).extract_answer(text) is not None


def no_answer_check(outcome: Outcome) -> Check:
    from mdlm_eval.scoring import task_from_name

    found, bad = 0, []
    for task, rows in outcome.samples.items():
        kind = task_from_name(task)
        if kind is None:
            continue
        found += 1
        texts = [(r.get("filtered_resps") or [""])[0] for r in rows.values()]
        missing = sum(not answer_found(kind, t) for t in texts if isinstance(t, str))
        if texts and missing > NO_ANSWER_SHARE * len(texts):
            bad.append(f"{task}: {missing} of {len(texts)}")
    if not found:
        return Check("no answer", None, "no task of the project's scorers")
    if bad:
        return Check("no answer", False, f"the scorer finds no answer in most samples: {'; '.join(bad)}")
    return Check("no answer", True, "the scorer finds an answer in most samples")


# ---- the audit ----


def check_input(config: RunConfig, batch_size: int) -> None:
    """Bad input, before anything heavy: a model or batch size that cannot batch, names that do not exist."""
    from mdlm_eval import startup
    from mdlm_eval.decoding import planned_nfe

    if batch_size < 2:
        raise UsageError(f"the audit compares batch size 1 against a batch; --batch-size must be at least 2, "
                         f"got {batch_size}")
    startup.check_model_name(config.model)
    startup.check_task_names(config.resolved_tasks())
    planned_nfe(config.spec(), config.resolved_gen_length())


def mask_text_of(config: RunConfig, outcome: Outcome) -> str | None:
    """The text of the model's mask token (its id from lm-eval's results config, its text from the tokenizer)."""
    from transformers import AutoTokenizer

    from mdlm_eval.models.loading import resolve_pretrained

    results = json.loads((outcome.folder / outcome.manifest["results_file"]).read_text())
    mask_id = results.get("config", {}).get("mask_id")
    if mask_id is None:
        return None
    tokenizer = AutoTokenizer.from_pretrained(resolve_pretrained(config.model)[0])
    return tokenizer.convert_ids_to_tokens(int(mask_id))


def audit(config: RunConfig, batch_size: int = 4, processes: bool = True,
          report: Callable[[Check], None] = lambda check: None, workdir: str | Path | None = None) -> list[Check]:
    """Every check on `config` (its `limit` documents), each reported as it finishes."""
    check_input(config, batch_size)
    own = workdir is None
    root = Path(tempfile.mkdtemp(prefix="mdlm-audit-") if own else workdir)
    checks: list[Check] = []

    def done(check: Check) -> None:
        checks.append(check)
        report(check)

    def at(name: str, **changes) -> RunConfig:
        return dataclasses.replace(config, output_path=str(root / name), **changes)

    try:
        base = evaluate(at("batch", batch_size=batch_size))
        single = evaluate(at("batch1", batch_size=1))
        done(same_generations("batch", single, base, f"batch 1 against batch {batch_size}"))
        if processes:
            two = two_processes(at("two-processes", batch_size=batch_size))
            done(Check("processes", None, two) if isinstance(two, str)
                 else same_generations("processes", base, two, "one process against two"))
        else:
            done(Check("processes", None, "--no-processes"))
        exact, why = cache_is_exact(config, base.manifest["gen_length"])
        if exact:
            uncached = evaluate(at("uncached", batch_size=batch_size, cache="none"))
            done(same_generations("cache", uncached, base, f"cache={config.spec().cache} against none"))
        else:
            done(Check("cache", None, why))
        done(resume_check(base, at("resume", batch_size=batch_size)))
        done(rescore_check(base))
        done(zero_metric_check(base))
        done(masks_left_check(base, mask_text_of(config, base)))
        done(no_answer_check(base))
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)
    return checks


def resume_check(fresh: Outcome, config: RunConfig) -> Check:
    """Half of the fresh run's stored samples in a new run's store; the run decodes the rest; same generations."""
    lines = [line for path in sorted((fresh.folder / "store").glob("rank*.jsonl"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = lines[: len(lines) // 2]
    store = run_dir(config) / "store"
    store.mkdir(parents=True, exist_ok=True)
    (store / "rank0.jsonl").write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    resumed = evaluate(config)
    reused = resumed.manifest.get("samples_reused")
    check = same_generations("resume", fresh, resumed, f"resumed ({reused} of {len(lines)} samples from the store) "
                                                       f"against fresh")
    if check.ok and reused != len(kept):
        return Check("resume", False, f"the resumed run reused {reused} stored samples, not the {len(kept)} it had")
    return check
