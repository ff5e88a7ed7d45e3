"""`mdlm-eval run`: one evaluation through lm-eval's Python API into a run folder under `runs/`.

A run folder holds lm-eval's own `results_*.json` and `samples_*.jsonl` (every lm-eval tool reads them),
the sample store (finished samples, reused when the same command runs again), and `manifest.json`, written
last: every setting, package versions, git commit, device, wall time, NFE and throughput.

A run is identified by model (+ adapter), decoder preset, steps, generation length, block settings (the block
in effect: given, or the model's for a preset, `mdlm_eval.block_default`), temperature, seed and `--limit`: each
of them is part of the folder name, so a `--limit 8` trial never lands in (or passes for) the folder of the full
run; the adapter is named with its content fingerprint, and a folder of other weights is never reused
(`mdlm_eval.identity`). The default output folder `runs/` is not tracked by
git; the shipped toy grid lives in `results/toy/` and is rebuilt only on purpose (`--output-path results`).
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mdlm_eval import identity, parallelism
from mdlm_eval.environment import environment, load_average, versions
from mdlm_eval.errors import UsageError
from mdlm_eval.fingerprint import weights_fingerprint
from mdlm_eval.paths import CHECKOUT as REPO, TOY_MODELS
from mdlm_eval.store import SampleStore, read_records, write_atomic

DEFAULT_GEN_LENGTH = 256
DEFAULT_OUTPUT = "runs"


@dataclass(frozen=True)
class RunConfig:
    model: str = "toy"
    peft: str | None = None
    decoder: str = "eoser_ass"
    steps: int | str | None = None
    gen_length: int | None = None
    block_length: int | None = None
    sub_block_length: int | None = None  # fast_dllm_v2's sub-blocks (None: the preset's)
    block_num: int | None = None
    temperature: float | None = None
    threshold: float | None = None
    cache: str | None = None  # none | prefix | dual (None: the decoder's)
    tasks: list[str] | None = None
    limit: int | float | None = None
    batch_size: int | str = 8
    output_path: str = DEFAULT_OUTPUT
    seed: int = 0
    trace: bool = False
    device: str | None = None
    native: bool = True  # LLaDA and Dream checkpoints: the native implementation (False: the checkpoint's own code)

    def block(self) -> tuple[int | None, str]:
        """The block length over the preset's and where it comes from (`mdlm_eval.block_default`)."""
        from mdlm_eval.block_default import block_override

        return block_override(self.decoder, self.block_length, self.model, self.resolved_gen_length())

    def given_overrides(self) -> dict:
        """The decoder overrides the command gave (a block the model's config.json names is not one)."""
        overrides = self.decoder_overrides()
        if self.block()[1] != "given":
            overrides.pop("block_length", None)
        return overrides
    template: str = "default"  # the project tasks' prompt template (mdlm_eval.templates)

    def decoder_overrides(self) -> dict:
        return {k: v for k, v in (("steps", self.steps), ("block_length", self.block()[0]),
                                  ("sub_block_length", self.sub_block_length), ("block_num", self.block_num),
                                  ("temperature", self.temperature),
                                  ("threshold", self.threshold), ("cache", self.cache))
                if v is not None}

    def spec(self):
        from mdlm_eval.decoding import load_spec  # torch: imported once the names are checked

        return load_spec(self.decoder).with_overrides(**self.decoder_overrides())

    def resolved_gen_length(self) -> int:
        """The given length, else the model folder's `gen_length` (the toy's), else 256."""
        if self.gen_length is not None:
            return int(self.gen_length)
        from mdlm_eval.model_files import local_config

        return int(local_config(self.model).get("gen_length", DEFAULT_GEN_LENGTH))

    def resolved_tasks(self) -> list[str]:
        return list(self.tasks) if self.tasks else (["mdlm_toy"] if self.model in TOY_MODELS else ["mdlm_reasoning"])


def setting_name(config: RunConfig) -> str:
    """`<decoder>_steps-<steps>_L<gen_length>[_bl..][_sb..][_bn..][_T..][_tau..][_cache-..][_seed..][_limit..]`."""
    spec = config.spec()
    steps = "uncapped" if spec.steps is None else spec.steps  # an adaptive rule without a cap
    name = f"{spec.name}_steps-{steps}_L{config.resolved_gen_length()}"
    if (block := config.block()[0]) is not None:  # given, or the model's for the preset: never passes for another
        name += f"_bl{block}"
    if config.sub_block_length is not None:
        name += f"_sb{config.sub_block_length}"
    if config.block_num is not None:
        name += f"_bn{config.block_num}"
    if spec.temperature:
        name += f"_T{spec.temperature:g}"
    if config.threshold is not None:
        name += f"_tau{config.threshold:g}"
    if spec.cache != "none":
        name += f"_cache-{spec.cache}"
    if config.seed:
        name += f"_seed{config.seed}"
    if config.limit is not None:
        name += f"_limit{config.limit:g}"
    if config.template != "default":
        name += f"_tpl-{config.template}"
    return name


def run_dir(config: RunConfig, announce: bool = False) -> Path:
    """`<output_path>/<model>[+<adapter>]/<setting>` (`identity.model_part`, `setting_name`). A folder whose
    manifest names other weights is never reused: the run goes where the model part carries the model's
    fingerprint too (said on stderr when `announce`)."""
    name = setting_name(config)
    folder = Path(config.output_path) / identity.model_part(config.model, config.peft) / name
    if not identity.holds_other_weights(folder, config.model, config.peft):
        return folder
    own = Path(config.output_path) / identity.model_part(config.model, config.peft, with_fingerprint=True) / name
    if identity.holds_other_weights(own, config.model, config.peft):
        raise UsageError(f"run folders {folder} and {own} both hold runs of other weights; "
                         f"choose another --output-path")
    if announce:
        print(f"mdlm-eval: {folder} holds a run of other weights (its manifest.json); this run goes to {own}",
              file=sys.stderr)
    return own


def check_model(config: RunConfig) -> None:
    """What needs torch before the weights load: the device (the rest: `early_checks.check_run`)."""
    from mdlm_eval.models.loading import pick_device

    pick_device(config.device)


def check_tasks(task_manager, tasks: list[str]) -> None:
    missing = [t for t in tasks if t not in task_manager.all_tasks]
    if missing:
        mdlm = sorted(t for t in task_manager.all_tasks if t.startswith("mdlm_"))
        raise UsageError(f"unknown task {', '.join(missing)}; the project's tasks: {', '.join(mdlm)}")


def model_args(config: RunConfig, gen_length: int, store: Path) -> str:
    args = {"pretrained": config.model, "peft": config.peft, "decoder": config.decoder, "gen_length": gen_length,
            **config.decoder_overrides(), "batch_size": config.batch_size, "seed": config.seed,
            "trace": config.trace, "device": config.device, "store": store,
            "native": None if config.native else False}
    return ",".join(f"{k}={v}" for k, v in args.items() if v is not None)


def git_commit() -> str | None:
    """The checkout's commit; None for an installed wheel (whatever git repository it may sit in)."""
    if not (REPO / "pyproject.toml").is_file():
        return None
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def run_evaluation(config: RunConfig) -> dict:
    """Run one evaluation; returns the manifest (on rank 0; other ranks of a data-parallel run get {})."""
    from mdlm_eval import early_checks, messages, startup, templates

    tasks = config.resolved_tasks()
    startup.check_model_name(config.model)  # names first: a mistyped name fails before the heavy imports
    only_project = startup.check_task_names(tasks)
    early_checks.check_run(config)  # every other argument, still without torch
    templates.resolve(config.template, tasks)

    import lm_eval
    from lm_eval.loggers import EvaluationTracker

    import mdlm_eval.lm_eval_model  # noqa: F401  (registers the `mdlm` model)
    from mdlm_eval import summary
    from mdlm_eval.block_default import warn_full_diffusion, warn_trained_block
    from mdlm_eval.decoding import DecoderSpec, load_spec, planned_nfe

    spec = config.spec()
    gen_length = config.resolved_gen_length()
    warn_full_diffusion(config.decoder, spec.block_length, gen_length)
    warn_trained_block(config.model, spec.block_length)
    nfe = planned_nfe(spec, gen_length)  # an impossible budget fails here, before the model loads
    check_model(config)
    task_manager = startup.task_manager(tasks, only_project)
    check_tasks(task_manager, tasks)
    folder = run_dir(config, announce=True)
    previous = read_manifest(folder)  # a rerun that decodes nothing keeps this run's measured time per sample
    stored_before = set(read_records(folder / "store"))
    prepare_folder(folder)
    staging = folder / ".partial"  # lm-eval writes its files here; each is then renamed into place whole
    tracker = EvaluationTracker(output_path=str(staging))
    start, load_start = time.perf_counter(), load_average()
    try:
        with templates.use(config.template):
            results = lm_eval.simple_evaluate(
                model="mdlm", model_args=model_args(config, gen_length, folder / "store"), tasks=tasks,
                task_manager=task_manager, limit=config.limit, apply_chat_template=True, log_samples=True,
                evaluation_tracker=tracker, random_seed=config.seed, numpy_random_seed=config.seed,
                torch_random_seed=config.seed, fewshot_random_seed=config.seed, bootstrap_iters=1000,
                verbosity="ERROR",
            )
    except BaseException as e:  # a failed start leaves no empty run folder; a hub dataset offline is one line
        messages.discard_if_empty(folder, Path(config.output_path))
        raise messages.offline_dataset(e) or e
    wall = time.perf_counter() - start
    if results is None:  # not rank 0: wait for rank 0's files, then leave together
        mdlm_eval.lm_eval_model.finish_distributed()
        return {}
    samples = results.pop("samples")
    per_sample = attach_sample_stats(samples, SampleStore(folder / "store"))
    tracker.save_results_aggregated(results=results, samples=samples)
    for task in results["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    publish(staging, folder)

    if ran := results["config"].get("decoder_spec"):  # as it ran: a block-causal model's blocks filled in
        spec = DecoderSpec(**ran)
        nfe = planned_nfe(spec, gen_length)
    steps = nfe if nfe is not None else spec.resolve_steps(gen_length)  # adaptive: the cap (None: uncapped)
    manifest = build_manifest(config, spec, steps, gen_length, tasks, per_sample, wall, results, folder)
    manifest.update(per_task=summary.per_task(results, per_sample), folder=str(folder),
                    decoder_changes=summary.decoder_changes(load_spec(config.decoder), spec, config.given_overrides()))
    manifest.update(timing(per_sample, stored_before, wall, previous))
    manifest["environment"] = environment(config.device, results["config"], load_start, manifest["git_commit"])
    manifest["batch_size_used"] = (results["config"].get("batch_sizes") or [None])[0]  # what `auto` chose
    write_atomic(folder / "manifest.json", json.dumps(manifest, indent=2, default=str))
    mdlm_eval.lm_eval_model.finish_distributed()
    return manifest


def read_manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def timing(per_sample: list[dict], stored_before: set[str], wall: float, previous: dict) -> dict:
    """Time per sample counting only the samples this run decoded: wall time / samples decoded. A run that
    decoded none keeps the measurement of the run that did (its manifest), else the decode seconds stored with
    each sample; `seconds_per_sample_from` says which."""
    reused = sum(r["key"] in stored_before for r in per_sample)
    decoded = len(per_sample) - reused
    if decoded:
        seconds, source = wall / decoded, "this run"
    elif previous.get("seconds_per_sample") and previous.get("samples") == len(per_sample):
        seconds = previous["seconds_per_sample"]
        source = previous.get("seconds_per_sample_from", "this run")
        source = "an earlier run" if source == "this run" else source
    else:
        seconds, source = mean([r["seconds"] for r in per_sample]), "the sample store (decode time only)"
    gen_length = per_sample[0]["gen_length"] if per_sample else 0
    return {"samples_decoded": decoded, "samples_reused": reused, "seconds_per_sample": seconds or 0.0,
            "seconds_per_sample_from": source, "tokens_per_second": gen_length / seconds if seconds else 0.0}


def prepare_folder(folder: Path) -> Path:
    """Create the run folder (checking it can be written) and mark the run unfinished: no manifest, no staging."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test{os.getpid()}"  # one per process: data-parallel ranks probe together
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise UsageError(f"cannot write results to {folder}: {e.strerror} (choose another --output-path)") from None
    (folder / "manifest.json").unlink(missing_ok=True)
    shutil.rmtree(folder / ".partial", ignore_errors=True)
    return folder


def build_manifest(config: RunConfig, spec, steps: int | None, gen_length: int, tasks: list[str], per_sample: list[dict],
                   wall: float, results: dict, folder: Path) -> dict:
    """Every setting, the measured cost (from the per-sample records) and the scores of a finished run (the time
    per sample, which depends on what was reused, comes from `timing`)."""
    n = len(per_sample)
    nfe_total = sum(r["nfe"] for r in per_sample)
    return {
        "status": "complete",
        **{k: v for k, v in asdict(config).items() if k not in ("steps", "gen_length")},
        "decoder_spec": spec.to_dict(),  # as it ran: its block_length is the one in effect
        "block_length_from": {"given": "--block-length", "model": "the model's config.json",
                              "preset": "the preset"}[config.block()[1]],
        "steps": steps,
        "steps_arg": spec.steps,
        "gen_length": gen_length,
        "tasks": tasks,
        "samples": n,
        "nfe_total": nfe_total,
        "nfe_per_sample": nfe_total / n if n else 0.0,
        # block-causal models: the passes that only store finished blocks in the exact block cache, beside NFE
        "store_passes_per_sample": mean([r["store_passes"] for r in per_sample if "store_passes" in r]),
        "tokens_per_forward": n * gen_length / nfe_total if nfe_total else 0.0,
        **parallelism.run_fields(per_sample, spec, gen_length),  # tpf (to the first EOS), llada8b_macs_per_token
        "wall_seconds": wall,
        "decode_seconds_per_sample": mean([r["seconds"] for r in per_sample]),
        "early_eos_share": mean([r["early_eos_share"] for r in per_sample if "early_eos_share" in r]),
        "model_fingerprint": weights_fingerprint(config.model),
        "peft_fingerprint": weights_fingerprint(config.peft) if config.peft else None,
        "weights": identity.weights(config.model, config.peft),  # content fingerprints: the run's identity
        "model_label": identity.model_part(  # the leaderboard's model: with its fingerprint where the run was moved
            config.model, None, with_fingerprint=folder.parent.name != identity.model_part(config.model, config.peft)),
        "adapter_label": identity.adapter_label(config.peft) if config.peft else None,
        "scores": scores(results),
        "results_file": str(latest(folder, "results_*.json").relative_to(folder)),
        "versions": versions(),
        "git_commit": git_commit(),
        "device": device_name(),
        "python": platform.python_version(),
    }


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def publish(staging: Path, folder: Path) -> None:
    """Move every file written under `staging` to the same place under `folder`, one atomic rename each."""
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        target = folder / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    shutil.rmtree(staging)


def attach_sample_stats(samples: dict[str, list[dict]], store: SampleStore) -> list[dict]:
    """Add each sample's NFE, seconds and trace to lm-eval's sample records: this process's decoded records
    (every repeat of a document), else the sample store's (documents another rank decoded)."""
    from mdlm_eval.lm_eval_model import FINISHED, sample_fields

    by_doc = {(r["task"], r["doc_id"]): [r] for r in store.records.values()}
    attached = []
    for task, rows in samples.items():
        for row in rows:
            records = FINISHED.get((task, row["doc_id"])) or by_doc.get((task, row["doc_id"]))
            if not records:
                continue
            row.update(sample_fields(records))
            attached.extend(records)
    return attached


def scores(results: dict) -> dict[str, dict[str, float]]:
    """{task: {metric: value}} without stderr entries or the filter suffix."""
    table = {}
    for task, metrics in results["results"].items():
        table[task] = {k.split(",")[0]: v for k, v in metrics.items()
                       if "," in k and "_stderr" not in k and isinstance(v, (int, float))}
    return table


def latest(folder: Path, pattern: str) -> Path:
    return max(folder.rglob(pattern), key=lambda p: p.stat().st_mtime)


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def print_summary(manifest: dict) -> None:
    """The decoder as it ran, each task's scores ± SE with n and forward passes, the cost and the folder."""
    from mdlm_eval.summary import summary_lines

    print("\n".join(summary_lines(manifest)))
