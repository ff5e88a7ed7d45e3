"""Diagnostics that tell learning from sharpening: per-step reward statistics of the rollouts, held-out scores
every `eval_every` steps, and the plot of both written next to the adapter.

- Per step (log.tsv): reward mean, reward spread (the mean over groups of the within-group std), zero_spread
  (the share of groups whose `num_generations` rewards are all equal: their advantages are 0, they teach
  nothing), KL to the reference, clip_fraction (the share of tokens where clipping changes the loss).
- Held out (eval.tsv): on prompts the training streams never draw (`tasks.is_heldout`), with the task's exact
  scorer (Countdown `acc_exact`, Sudoku `solved`): greedy (temperature 0), sampled mean and pass@k over
  `num_generations` samples per prompt at the rollout temperature, with the unbiased estimator
  pass@k = 1 - C(n - c, k) / C(n, k) (Chen et al. 2021, arXiv 2107.03374). Sampled rows use fixed seeds, so every
  evaluation draws the same noise and differences between steps are the adapter's.
"""
from __future__ import annotations

from pathlib import Path

import torch

from mdlm_eval.passk import pass_at_k  # noqa: F401 (the estimator, shared with the leaderboard)

LOG_COLUMNS = ("step", "loss", "reward", "reward_std", "zero_spread", "kl", "clip_fraction", "lr", "seconds")
EVAL_COLUMNS = ("step", "greedy", "sampled_mean", "pass_at_k", "k", "prompts")


def group_stats(rewards: torch.Tensor, num_generations: int) -> dict[str, float]:
    """Reward mean, mean within-group std (unbiased), share of groups with zero spread."""
    grouped = rewards.view(-1, num_generations)
    zero = (grouped.max(dim=1).values == grouped.min(dim=1).values).float()
    return {"reward": rewards.mean().item(), "reward_std": grouped.std(dim=1).mean().item(),
            "zero_spread": zero.mean().item()}


def heldout_scores(correct_greedy: list[bool], correct_sampled: list[list[bool]], k: int) -> dict[str, float]:
    """Greedy accuracy, sampled mean and mean pass@k over prompts (one list of sample outcomes per prompt)."""
    n = len(correct_sampled[0])
    return {"greedy": sum(correct_greedy) / len(correct_greedy),
            "sampled_mean": sum(sum(s) for s in correct_sampled) / (n * len(correct_sampled)),
            "pass_at_k": sum(pass_at_k(n, sum(s), k) for s in correct_sampled) / len(correct_sampled),
            "k": k, "prompts": len(correct_greedy)}


def read_tsv(path: Path) -> dict[str, list[float]]:
    rows = [line.split("\t") for line in path.read_text().splitlines() if line]
    return {name: [float(r[i]) for r in rows[1:]] for i, name in enumerate(rows[0])} if rows else {}


def plot_curves(out: Path) -> Path:
    """out/curves.png: reward mean and spread, zero-spread share, KL, clip fraction and the held-out scores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log = read_tsv(out / "log.tsv")
    heldout = read_tsv(out / "eval.tsv") if (out / "eval.tsv").is_file() else {}
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    ax = axes[0, 0]
    ax.plot(log["step"], log["reward"], label="reward mean")
    ax.plot(log["step"], log["reward_std"], label="reward spread (group std)")
    ax.set_title("rollout reward")
    ax.legend()
    ax = axes[0, 1]
    ax.plot(log["step"], log["zero_spread"], color="tab:red")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("share of groups with zero reward spread")
    ax = axes[1, 0]
    ax.plot(log["step"], log["kl"], color="tab:blue")
    ax.set_ylabel("KL to the reference", color="tab:blue")
    twin = ax.twinx()
    twin.plot(log["step"], log["clip_fraction"], color="tab:orange")
    twin.set_ylabel("clip fraction", color="tab:orange")
    ax.set_title("KL and clipping")
    ax.set_xlabel("optimizer step")
    ax = axes[1, 1]
    if heldout.get("step"):
        k = int(heldout["k"][0])
        for name, label in (("greedy", "greedy"), ("sampled_mean", "sampled mean"), ("pass_at_k", f"pass@{k}")):
            ax.plot(heldout["step"], heldout[name], marker="o", label=label)
        ax.legend()
        ax.set_title(f"held out ({int(heldout['prompts'][0])} prompts, exact score)")
    else:
        ax.text(0.5, 0.5, "no held-out evaluation (eval_every: 0)", ha="center", va="center", transform=ax.transAxes)
        ax.set_title("held out")
    ax.set_xlabel("optimizer step")
    fig.tight_layout()
    path = out / "curves.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
