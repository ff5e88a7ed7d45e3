"""Reading lm-eval results files: each file's setting (from its run's manifest.json, else its config), scores with
standard errors and sample counts, and its lm-eval groups."""
from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from mdlm_eval.decoding import DecoderSpec, load_spec, make_plan
from mdlm_eval.decoding.spec import RULE_FIELDS
from mdlm_eval.errors import UsageError
from mdlm_eval.leaderboard.samples_stderr import fill_missing_stderr

HEAD = ["model", "adapter", "decoder"]  # identity, before the decoder's spec fields
ARCHITECTURE = "architecture"  # the model family in words (`LoadedModel.architecture`; empty for older results)
TAIL = ["template", "steps", "gen_length", "seed", "limit", "samples"]  # identity, after them
SPEC_SKIP = {"name", "description", "steps"}  # the preset name is `decoder`; the resolved steps are `steps`
COST = ["nfe_per_sample", "tokens_per_forward", "seconds_per_sample", "early_eos_share"]
EXTRAS = ["steps_arg", "samples_decoded", "samples_reused", "seconds_per_sample_from", "decode_seconds_per_sample",
          "tokens_per_second", "tpf", "llada8b_macs_per_token"]  # read when the manifest has them, never required

ENV = ["device_name", "device_count", "driver", "cuda", "torch", "transformers", "lm_eval", "peft", "mdlm-eval",
       "dtype", "attention", "deterministic"]  # mdlm_eval.environment.COMPARED: a column where rows differ
HOST = ["host", "load"]  # where and under what load the wall time was measured

Warn = Callable[[str], None]


@dataclass
class GroupInfo:
    """An lm-eval group: its subtasks, and per aggregated metric the subtasks' aggregations (several = mixed)."""

    subtasks: list[str]
    kinds: dict[str, list[str]] = field(default_factory=dict)


# ---- reading lm-eval results files ----


def read_results(results_dir: Path, warn: Warn) -> tuple[list[tuple[dict, list[dict], dict]], int]:
    """(settings, scores, groups) per readable results file; unreadable files are named through `warn`."""
    if not results_dir.is_dir():
        raise UsageError(f"results folder {results_dir} does not exist")
    files = sorted(results_dir.rglob("results_*.json"))
    if not files:
        raise UsageError(f"no lm-eval results files (results_*.json) under {results_dir}; "
                         f"run `mdlm-eval run` or `mdlm-eval sweep` first")
    records = []
    for path in files:
        try:
            row, scores, groups = read_one(path, warn)
        except ValueError as e:
            warn(f"skipped {path}: {e}")
            continue
        row["results_file"] = str(path.relative_to(results_dir))
        records.append((row, scores, groups))
    if not records:
        raise UsageError(f"none of the {len(files)} results files under {results_dir} could be read")
    return records, len(files)


def read_one(path: Path, warn: Warn) -> tuple[dict[str, Any], list[dict], dict[str, GroupInfo]]:
    """The setting, scores and groups of one results file; ValueError if it is not lm-eval's."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not a text file") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"truncated or not JSON ({e.msg} at line {e.lineno})") from None
    if not (isinstance(data, dict) and isinstance(data.get("results"), dict) and isinstance(data.get("config"), dict)):
        raise ValueError("not an lm-eval results file (no 'results' and 'config' mappings)")
    manifest = read_manifest(path)
    row = settings_from_manifest(manifest, data) if manifest else settings_from_config(data, path, warn)
    date = path.stem.removeprefix("results_")
    row["date"] = date
    samples = sorted(path.parent.glob(f"samples_*_{date}.jsonl"))
    row["trace_files"] = tuple(str(p) for p in samples if has_trace(p))
    row["samples_files"] = {p.name.removeprefix("samples_").removesuffix(f"_{date}.jsonl"): str(p) for p in samples}
    groups = group_info(data)
    fill_missing_stderr(data, path, aggregation_of)  # older files: Sudoku cell accuracy's SE from the samples
    return row, score_rows(data, set(groups)), groups


def number(value: Any) -> float | None:
    """A finite float, or None (lm-eval writes "N/A" for a missing standard error)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def score_rows(data: dict, groups: set[str]) -> list[dict]:
    """One entry per task and metric of lm-eval's `results` ("<metric>,<filter>" keys), in percent, with the
    standard error ("<metric>_stderr,<filter>") and the sample count."""
    rows = []
    for task, metrics in data["results"].items():
        if not isinstance(metrics, dict):
            continue
        n = sample_count(data, task, metrics)
        for key, value in metrics.items():
            metric, _, filt = key.partition(",")
            if not filt or metric.endswith("_stderr") or number(value) is None:
                continue
            stderr = number(metrics.get(f"{metric}_stderr,{filt}"))
            rows.append({"task": task, "metric": metric + ("" if filt == "none" else f" ({filt})"),
                         "value": 100.0 * value, "stderr": None if stderr is None else 100.0 * stderr, "n": n,
                         "higher": bool(data.get("higher_is_better", {}).get(task, {}).get(metric, True)),
                         "group": task in groups})
    return rows


def sample_count(data: dict, task: str, metrics: dict) -> int | None:
    """lm-eval's effective sample count of a task (n-samples), or the `sample_len` it writes for groups."""
    counts = data.get("n-samples", {}).get(task)
    if isinstance(counts, dict) and isinstance(counts.get("effective"), int):
        return counts["effective"]
    return metrics.get("sample_len") if isinstance(metrics.get("sample_len"), int) else None


def group_info(data: dict) -> dict[str, GroupInfo]:
    """Groups of a results file (`group_subtasks`), with each aggregated metric's aggregation per subtask."""
    groups = {}
    configs = data.get("configs", {})
    for group, subtasks in (data.get("group_subtasks") or {}).items():
        if not subtasks:
            continue
        info = GroupInfo(list(subtasks))
        for key in (data["results"].get(group) or {}):
            metric, _, filt = key.partition(",")
            if not filt or metric.endswith("_stderr"):
                continue
            info.kinds[metric] = sorted({aggregation_of(configs.get(t, {}), metric) for t in subtasks} - {None})
        groups[group] = info
    return groups


def aggregation_of(config: dict, metric: str) -> str | None:
    """A task config's aggregation of `metric`: "mean", or a function's name ("def cell_accuracy(...)")."""
    for entry in config.get("metric_list") or []:
        if isinstance(entry, dict) and entry.get("metric") == metric:
            agg = str(entry.get("aggregation", "mean"))
            found = re.match(r"\s*def\s+(\w+)", agg)
            return found.group(1) if found else agg
    return None


def read_manifest(results_path: Path) -> dict | None:
    """The complete `manifest.json` of the run folder holding this results file, if any."""
    for folder in (results_path.parent, results_path.parent.parent):
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and manifest.get("status") == "complete":
            return manifest
    return None


def spec_of(raw: Any) -> dict[str, Any]:
    """A resolved decoder spec as hashable values; keys an older manifest lacks take DecoderSpec's defaults."""
    if not isinstance(raw, dict):
        return {}
    defaults = {k: v for k, v in spec_defaults().items() if k not in SPEC_SKIP}
    spec = {str(k): hashable(v) for k, v in {**defaults, **raw}.items()}
    for field, rules in RULE_FIELDS.items():  # a knob its commit rule never reads is no part of the setting
        if field in spec and spec.get("commit", "count") not in rules:
            spec[field] = None
    return spec


def spec_defaults() -> dict[str, Any]:
    """DecoderSpec's field defaults (what an older manifest that lacks a field decoded with)."""
    try:
        fields = dataclasses.fields(DecoderSpec)
    except TypeError:  # not a dataclass: no defaults to fill in
        return {}
    return {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}


def hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(hashable(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def settings_from_manifest(m: dict, data: dict) -> dict[str, Any]:
    """Setting and measured cost from a run's manifest."""
    spec = spec_of(m.get("decoder_spec") or data["config"].get("decoder_spec"))
    return {
        "model": m.get("model_label") or short_name(m.get("model")), "adapter": m.get("adapter_label") or adapter_name(m.get("peft")),
        ARCHITECTURE: data["config"].get(ARCHITECTURE), "decoder": spec.get("name") or m.get("decoder"), "spec": spec,
        "template": m.get("template") or "default",
        "steps": m.get("steps"), "gen_length": m.get("gen_length"), "seed": m.get("seed"), "limit": m.get("limit"),
        "samples": m.get("samples"), **{c: number(m.get(c)) for c in COST},
        **{k: m[k] for k in EXTRAS if k in m}, "cost_from": "manifest", **environment_of(m),
    }


def environment_of(manifest: dict) -> dict[str, Any]:
    """The compared environment fields of a manifest (`environment`, written since it was recorded; older manifests
    give the device and versions only), and the host with its 1-minute load average at the start of the run."""
    env = manifest.get("environment") if isinstance(manifest.get("environment"), dict) else {}
    device = re.sub(r", \d+ threads\)$", ")", str(manifest["device"])) if manifest.get("device") else None
    old = {**(manifest.get("versions") or {}), "device_name": device}  # older manifests: "cpu (x86_64, 1 threads)"
    found = {k: hashable(env.get(k, old.get(k))) for k in ENV}
    load = env.get("load_start")
    found.update(host=env.get("host"), load=float(load[0]) if isinstance(load, list) and load else None)
    return found


def settings_from_config(data: dict, path: Path, warn: Warn) -> dict[str, Any]:
    """Setting from the results file's `config` (its `decoder_spec`, else `model_args` over the preset); NFE and
    tokens per forward from the decoder's plan where it has a fixed one."""
    config = data["config"]
    args = parse_model_args(config.get("model_args"))
    length = as_int(args.get("gen_length")) if str(args.get("gen_length", "")).isdigit() else None
    spec_raw = config.get("decoder_spec") if isinstance(config.get("decoder_spec"), dict) else None
    if spec_raw is None and "decoder" in args:
        names = set(spec_defaults()) - SPEC_SKIP | {"steps"}
        try:
            spec_raw = load_spec(args["decoder"]).with_overrides(
                **{k: v for k, v in args.items() if k in names and v not in ("None", "")}).to_dict()
        except UsageError as e:
            warn(f"{path}: cannot resolve decoder '{args['decoder']}' ({e}); its settings are left empty")
    spec = spec_of(spec_raw)
    n = sum(v.get("effective", 0) for v in data.get("n-samples", {}).values() if isinstance(v, dict))
    seconds = number(pd.to_numeric(data.get("total_evaluation_time_seconds"), errors="coerce"))
    row: dict[str, Any] = {
        "model": short_name(args.get("pretrained") or config.get("model")), "adapter": adapter_name(args.get("peft")),
        ARCHITECTURE: config.get(ARCHITECTURE),
        "decoder": spec.get("name") or args.get("decoder") or str(config.get("model", "")), "spec": spec,
        "template": "default",  # lm_eval's command line renders the tasks' default template
        "steps": as_int(args.get("steps")), "steps_arg": args.get("steps"), "gen_length": length,
        "seed": as_int(args.get("seed", config.get("random_seed"))), "limit": config.get("limit"),
        "samples": n or None, **dict.fromkeys(COST), "cost_from": "model_args",
        "seconds_per_sample": seconds / n if n and seconds is not None else None,
    }
    if spec_raw and length:
        try:  # a decoder this version cannot plan (adaptive, unknown fields) keeps NFE empty
            plan_spec = DecoderSpec(**spec_raw)
            nfe = len(make_plan(plan_spec, length))
            row.update(steps=plan_spec.resolve_steps(length), nfe_per_sample=float(nfe),
                       tokens_per_forward=length / nfe)
        except (UsageError, TypeError, ValueError) as e:
            warn(f"{path}: no fixed decoding plan ({e}); NFE left empty")
    return row


def parse_model_args(model_args: Any) -> dict[str, str]:
    """lm-eval's `model_args`: "k=v,k=v" or a mapping."""
    if isinstance(model_args, dict):
        return {str(k): str(v) for k, v in model_args.items()}
    pairs = (item.split("=", 1) for item in str(model_args or "").split(",") if "=" in item)
    return {k.strip(): v.strip() for k, v in pairs}


def block_of(spec: dict, gen_length: Any) -> Any:
    """The block length a decode used (for joining published rows): None for ascending step sizes over the whole
    canvas, L for one block."""
    if spec.get("schedule") == "ascending" and not spec.get("block_length"):
        return None
    return spec.get("block_length") or gen_length


def short_name(name: Any) -> str:
    """A model or adapter as the leaderboard shows it: the last component of its id or path ("" for none)."""
    if name is None or str(name) in ("", "None"):
        return ""
    return Path(str(name).rstrip("/")).name or str(name)


def adapter_name(name: Any) -> str:
    """An adapter without a recorded label (an older manifest, a bare lm-eval run): its readable name."""
    from mdlm_eval.identity import readable_name

    return "" if name is None or str(name) in ("", "None") else readable_name(str(name))


def has_trace(samples_file: Path) -> bool:
    """Whether the first sample of a samples file carries the trace keys."""
    try:
        with open(samples_file, encoding="utf-8") as f:
            first = json.loads(f.readline())
    except (OSError, ValueError):
        return False
    return isinstance(first, dict) and "trace_step" in first and "trace_eos" in first


def as_int(value: Any) -> Any:
    """32, 32.0 and "32" -> 32; missing -> None; anything else (a step word, a fractional limit) unchanged."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value) in ("None", ""):
        return None
    return int(float(value)) if re.fullmatch(r"\d+(\.0*)?", str(value).strip()) else value
