"""Several seeds of RL runs scored on the test items: the tables and curves of an RL study (docs/training.md).

`mdlm-eval train report FOLDER... --out results/toy-rl-study` reads every evaluation run folder
(`mdlm-eval run --output-path ...`) under each FOLDER. A run with `--peft PATH` (PATH as typed in FOLDER or a
folder above it) belongs to
the training run whose `config.yaml` is beside PATH: its method, training task, seed and steps, and its variant
(what its config changes against the toy config of its method: std-scaled advantages, a reward, a learning rate...). A run without an adapter is the base.
Scores are the task's 0/1 success metric (Countdown `acc`, Sudoku `solved`): greedy from a task, the sampled mean
and pass@k (mdlm_eval.leaderboard.sampled) from its `<task>_sampled` twin (lm-eval `repeats`). Writes to --out:
- scores.csv: one row per training run (or base), task and decoder;
- table.md: per task, decoder and method, at the largest steps: mean +- SE across seeds, then the paired
  difference to the base (the same items, decoder and sampling noise; mean over seeds +- SE across seeds);
- curves.png: test greedy against training steps (0 = the base), and each run's rollout reward and zero-spread
  share (log.tsv, moving mean);
- logs/<method>-<task>-<variant>-s<seed>.tsv: each training run's log.tsv at its largest steps.
"""
from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pandas as pd
import yaml

from mdlm_eval.errors import UsageError

SUCCESS = {"countdown": "acc", "sudoku": "solved"}  # the 0/1 score of each task family
SAMPLED = "_sampled"
METRICS = ("greedy", "sampled_mean", "pass_at_k")


def family(task: str) -> str | None:
    return next((f for f in SUCCESS if f in task), None)


BOOKKEEPING = {"method", "model", "task", "seed", "steps", "eval_every", "eval_prompts", "pass_k", "save_every", "threads"}
ROLLOUT = {"decoder", "decode_steps", "temperature", "decoder_overrides", "gen_length"}


def variant(cfg: dict) -> str:
    """What a training config changes against the toy config of its method ('' for none): std-scaled advantages,
    the task's reward list, other rollouts (compared as the decoder specs they give), any other hyperparameter."""
    from mdlm_eval.training.config import load_config
    from mdlm_eval.training.trainer import check_config

    toy = load_config("toy", method=cfg["method"], task=cfg["task"])
    given = load_config(**cfg)
    kind = family(cfg["task"])
    parts = []
    for name, value in cfg.items():
        if name in BOOKKEEPING | ROLLOUT or value == getattr(toy, name):
            continue
        if name == "scale_rewards":
            parts.append("std-scaled advantages" if value else "unscaled advantages")
        elif name == "rewards":
            if kind and value.get(kind) != toy.rewards.get(kind):
                parts.append("reward " + "+".join(value[kind]))
        else:
            parts.append(f"{name} {value}")
    if check_config(given)[2] != check_config(toy)[2]:
        parts.append(f"rollouts {given.decoder} {given.decode_steps}")
    return ", ".join(parts)


def training_run(folder: Path, peft: str | None) -> dict:
    """The training run of an evaluation's adapter: its config.yaml beside the adapter folder."""
    if not peft:
        return {"method": "base", "variant": "", "train_task": "", "seed": 0, "steps": 0, "run": None}
    # PATH as typed where `mdlm-eval run` ran: FOLDER or a folder above it
    candidates = [(base / peft).resolve() for base in (folder, *folder.resolve().parents)]
    adapter = next((a for a in candidates if (a.parent / "config.yaml").is_file()), candidates[0])
    config = adapter.parent / "config.yaml"
    if not config.is_file():
        raise UsageError(f"{peft}: no training config.yaml beside the adapter, from {folder} or a folder above it")
    cfg = yaml.safe_load(config.read_text())
    return {"method": cfg["method"], "variant": variant(cfg), "train_task": cfg["task"], "seed": cfg["seed"],
            "steps": cfg["steps"], "run": adapter.parent}


def collect(folders: list[Path]) -> tuple[pd.DataFrame, dict[tuple, Path]]:
    """One row per (training run or base, task, decoder) with greedy / sampled mean / pass@k in percent; and the
    training run folder of each (method, variant, train task, seed, steps)."""
    from mdlm_eval.leaderboard.sampled import sampled_scores

    rows, runs = {}, {}
    for folder in folders:
        manifests = sorted(folder.rglob("manifest.json"))
        if not manifests:
            raise UsageError(f"{folder}: no evaluation run folder (manifest.json) in it")
        for manifest in manifests:
            m = json.loads(manifest.read_text())
            run = training_run(folder, m.get("peft"))
            key = (run["method"], run["variant"], run["train_task"], run["seed"], run["steps"])
            if run["run"] is not None:
                runs[key] = run["run"]
            decoder = f"{m['decoder']} {m['steps']} steps"
            for task, scores in m["scores"].items():
                base_task = task.removesuffix(SAMPLED)
                metric = SUCCESS.get(family(task) or "")
                if metric is None:
                    continue
                row = rows.setdefault(key + (base_task, decoder), dict(zip(
                    ("method", "variant", "train_task", "seed", "steps", "task", "decoder"), key + (base_task, decoder))))
                row["metric"] = metric
                if task.endswith(SAMPLED):
                    samples = next(manifest.parent.rglob(f"samples_{task}_*.jsonl"))
                    s = sampled_scores(str(samples), task)[metric]
                    row.update(sampled_mean=s.sampled_mean, pass_at_k=s.pass_at_k, k=s.k)
                else:
                    row.update(greedy=100.0 * scores[metric], n=m["per_task"][task]["n"])
    df = pd.DataFrame(list(rows.values()))
    for col in (*METRICS, "k", "n"):
        if col not in df:
            df[col] = float("nan")
    return df.sort_values(["task", "decoder", "method", "variant", "steps", "seed"]).reset_index(drop=True), runs


def _summary(xs: list[float], signed: bool = False) -> str:
    """Mean, and ± its standard error across seeds when there are several ('' when none)."""
    xs = [x for x in xs if x == x]
    if not xs:
        return ""
    mean = f"{statistics.fmean(xs):{'+' if signed else ''}.1f}"
    return mean if len(xs) == 1 else f"{mean} ± {statistics.stdev(xs) / len(xs) ** 0.5:.1f}"


def table(df: pd.DataFrame) -> str:
    """Markdown: per task, decoder and method (its largest steps), each metric's mean +- SE across seeds and the
    paired difference to the base in brackets."""
    k = int(df["k"].min()) if df["k"].notna().any() else "k"
    names = {"greedy": "greedy", "sampled_mean": "sampled mean", "pass_at_k": f"pass@{k}"}
    lines = ["| task (score) | decoder | run | steps | seeds | " + " | ".join(names.values()) + " |",
             "|---|---|---|---|---|" + "---|" * len(names)]
    for (task, decoder), cell in df.groupby(["task", "decoder"], sort=True):
        base = cell[cell["method"] == "base"]
        for (method, var), group in cell.groupby(["method", "variant"], sort=False):
            group = group[group["steps"] == group["steps"].max()]
            label = method + (f" ({var})" if var else "")
            values = []
            for metric in names:
                text = _summary(list(group[metric]))
                if method != "base" and len(base) and text:
                    diffs = [x - base[metric].iloc[0] for x in group[metric]]
                    text += f" ({_summary(diffs, signed=True)})"
                values.append(text)
            lines.append(f"| {task} ({cell['metric'].iloc[0]}) | {decoder} | {label} | {group['steps'].max()} | "
                         f"{len(group)} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def plot(df: pd.DataFrame, runs: dict[tuple, Path], path: Path, window: int = 20) -> Path:
    """Test greedy against training steps per task and decoder (top rows), rollout reward and zero-spread share per
    training task (bottom row), each method's seeds averaged (shaded: +- SE across seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mdlm_eval.training.diagnostics import read_tsv

    cells = sorted(df.groupby(["task", "decoder"]).groups)
    tasks = sorted({t for t, _ in cells})
    columns = max(len(cells), 2 * len(tasks))
    fig, axes = plt.subplots(2, columns, figsize=(4.2 * columns, 7.5), squeeze=False)
    methods = sorted((m, v) for m, v in df[["method", "variant"]].drop_duplicates().itertuples(index=False) if m != "base")
    colors = dict(zip(methods, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for ax, (task, decoder) in zip(axes[0], cells):
        cell = df[(df["task"] == task) & (df["decoder"] == decoder)]
        base = cell[cell["method"] == "base"]["greedy"]
        for method in methods:
            runs_of = cell[(cell["method"] == method[0]) & (cell["variant"] == method[1])]
            if runs_of.empty:
                continue
            by_steps = runs_of.groupby("steps")["greedy"]
            steps = [0, *by_steps.mean().index]
            mean = [base.mean(), *by_steps.mean()]
            se = [0.0, *(by_steps.std().fillna(0) / by_steps.count() ** 0.5)]
            ax.errorbar(steps, mean, yerr=se, marker="o", capsize=3, color=colors[method],
                        label=method[0] + (f" ({method[1]})" if method[1] else ""))
        for other, score in df[(df["task"] == task) & (df["decoder"] != decoder) & (df["method"] == "base")][
                ["decoder", "greedy"]].itertuples(index=False):  # the base under the other decoders: the goal
            ax.axhline(score, color="gray", linestyle=":", label=f"base, {other}")
        ax.set_title(f"{task}: {decoder}", fontsize=9)
        ax.set_xlabel("training steps (prompts)")
        ax.set_ylabel(f"test {cell['metric'].iloc[0]}, greedy (%)")
        ax.legend(fontsize=7)
    for ax in axes[0][len(cells):]:
        ax.axis("off")
    bottom = iter(axes[1])
    for task in tasks:
        for column, title in (("reward", "rollout reward"), ("zero_spread", "zero-spread share of groups")):
            ax = next(bottom)
            for method in methods:
                logs = [read_tsv(run / "log.tsv") for key, run in runs.items()
                        if key[:2] == method and task in key[2] and key[4] == max(k[4] for k in runs if k[:3] == key[:3])]
                if not logs:
                    continue
                curves = pd.DataFrame([pd.Series(log[column]).rolling(window, min_periods=1).mean() for log in logs])
                steps = range(1, curves.shape[1] + 1)
                mean, se = curves.mean(), curves.std().fillna(0) / len(logs) ** 0.5
                ax.plot(steps, mean, color=colors[method], label=method[0] + (f" ({method[1]})" if method[1] else ""))
                ax.fill_between(steps, mean - se, mean + se, color=colors[method], alpha=0.2)
            ax.set_title(f"{task} runs: {title}", fontsize=9)
            ax.set_xlabel(f"optimizer step ({window}-step moving mean)")
            ax.legend(fontsize=7)
    for ax in bottom:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def report(folders: list[Path], out: Path) -> list[Path]:
    df, runs = collect(folders)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "scores.csv", index=False, float_format="%.4f")
    (out / "table.md").write_text(table(df))
    written = [out / "scores.csv", out / "table.md", plot(df, runs, out / "curves.png")]
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    for (method, var, task, seed, steps), run in runs.items():
        if steps == max(k[4] for k in runs if k[:4] == (method, var, task, seed)):
            name = "-".join(filter(None, (method, task, var.replace(" ", "_").replace(",", ""), f"s{seed}")))
            shutil.copyfile(run / "log.tsv", logs / f"{name}.tsv")
    return written + [logs]
