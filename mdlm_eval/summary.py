"""What `mdlm-eval run` prints when it finishes: the decoder as it ran, one block of lines per task (n, each
score ± its standard error, forward passes per sample), the cost, and the folder written.

Plain text that fits 80 columns: a header line per fact, then per task one line of counts and one indented line
per metric, so no column is squeezed out at any terminal width.
"""
from __future__ import annotations

import math

OVERRIDABLE = ("steps", "block_length", "block_num", "temperature", "threshold", "cache")


def per_task(results: dict, per_sample: list[dict]) -> dict[str, dict]:
    """{task or group: {"n", "nfe_per_sample", "stderr": {metric: SE or None}}} from lm-eval's results and the
    decoded records (a group's forward passes are those of its tasks' samples)."""
    members = results.get("group_subtasks", {})
    table = {}
    for task, metrics in results["results"].items():
        tasks = set(members.get(task) or [task])
        nfe = [r["nfe"] for r in per_sample if r.get("task") in tasks and "nfe" in r]
        table[task] = {
            "n": metrics.get("sample_len"),
            "nfe_per_sample": sum(nfe) / len(nfe) if nfe else None,
            "stderr": {k.split(",")[0].removesuffix("_stderr"): number(v) for k, v in metrics.items()
                       if "," in k and k.split(",")[0].endswith("_stderr")},
        }
    return table


def decoder_changes(preset, spec, overrides: dict) -> dict[str, list]:
    """{setting: [the preset's value, the value it ran with]} for each given override that changed the preset."""
    return {k: [getattr(preset, k), getattr(spec, k)] for k in overrides
            if k in OVERRIDABLE and getattr(preset, k) != getattr(spec, k)}


def number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def decoder_line(manifest: dict) -> str:
    """`semi_ar: 16 steps (half), block 8 of L 32, cache none` and the overrides that changed the preset."""
    spec = manifest["decoder_spec"]
    L = manifest["gen_length"]
    steps = manifest["steps"]
    from mdlm_eval.decoding.spec import ADAPTIVE_COMMITS

    adaptive = spec.get("commit") in ADAPTIVE_COMMITS
    budget = "adaptive, uncapped" if steps is None else f"{'adaptive, cap ' if adaptive else ''}{steps} steps"
    if isinstance(spec.get("steps"), str):
        budget += f" ({spec['steps']})"
    block = spec.get("block_length") or L
    blocks = f"block {block} of L {L}" + (" (one block: no semi-AR)" if block == L else
                                          " (the model's)" if manifest.get("block_length_from", "").startswith("the model")
                                          else "")
    if spec.get("block_num", 1) != 1:
        blocks += f", {spec['block_num']} ascending blocks"
    line = f"decoder  {manifest['decoder']}: {budget}, {blocks}, cache {spec.get('cache', 'none')}"
    if spec.get("temperature"):
        line += f", T {spec['temperature']:g}"
    changes = manifest.get("decoder_changes") or {}
    if changes:
        line += "\n         overrides: " + ", ".join(f"{k} {_show(a)} -> {_show(b)}" for k, (a, b) in changes.items())
    return line


def _show(value) -> str:
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def score(value: float, stderr: float | None) -> str:
    """A proportion as percent ± SE in percent."""
    return f"{100 * value:6.2f}" + (f" ± {100 * stderr:.2f}" if stderr is not None else " ± n/a")


def summary_lines(manifest: dict) -> list[str]:
    """The printed summary of a finished run (manifest.json), each line at most 80 columns for names that fit."""
    model = manifest["model"] + (f" + {manifest['peft']}" if manifest.get("peft") else "")
    lines = [f"model    {model}", decoder_line(manifest)]
    details = manifest.get("per_task", {})
    width = max((len(m) for metrics in manifest["scores"].values() for m in metrics), default=0)
    for task, metrics in manifest["scores"].items():
        info = details.get(task, {})
        nfe = info.get("nfe_per_sample")
        lines.append(f"{task}  n {info.get('n', '?')}" + (f", NFE/sample {nfe:.1f}" if nfe is not None else ""))
        for metric, value in metrics.items():
            lines.append(f"  {metric.ljust(width)}  {score(value, info.get('stderr', {}).get(metric))} %")
    lines.append(f"cost     {manifest['samples']} samples, NFE/sample {manifest['nfe_per_sample']:.1f}, "
                 f"{manifest['tokens_per_forward']:.2f} tokens/forward, {manifest['seconds_per_sample']:.3f} s/sample")
    if manifest.get("folder"):
        lines.append(f"written  {manifest['folder']}")
    return lines
