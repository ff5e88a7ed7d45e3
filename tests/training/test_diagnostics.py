"""Diagnostics: reward statistics and the clip fraction on scripted values, pass@k, the held-out set disjoint from
the training prompts, one short run with a reward that never varies (warned once, logged, plotted), and the
bad input that stops a run before training."""
import itertools
import math

import pytest
import torch

from mdlm_eval.errors import UsageError
from mdlm_eval.training.config import load_config
from mdlm_eval.training.diagnostics import group_stats, heldout_scores, pass_at_k, read_tsv
from mdlm_eval.training.objectives import grpo_token_loss
from mdlm_eval.training.tasks import HELDOUT_ONE_IN, TASKS, get_task, is_heldout
from mdlm_eval.training.trainer import train

SMALL = dict(task="mdlm_toy_countdown", batch_size=6, grad_accum=1, num_iterations=1, lora_r=4, lora_alpha=8,
             threads=1)


def test_group_stats_on_scripted_rewards():
    rewards = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 2.0, 0.5, 0.5, 0.5])
    stats = group_stats(rewards, 3)
    assert stats["reward"] == pytest.approx(6.5 / 9)
    assert stats["reward_std"] == pytest.approx((0 + math.sqrt(4 / 3) + 0) / 3)
    assert stats["zero_spread"] == pytest.approx(2 / 3)


def test_clip_fraction_marks_the_tokens_where_clipping_changes_the_loss():
    eps = 0.2
    ratio = torch.tensor([[1.5, 0.5, 1.0, 1.5, 0.5, 1.1]])
    adv = torch.tensor([1.0])
    loss, _, changed = grpo_token_loss(ratio.log(), torch.zeros_like(ratio), torch.zeros_like(ratio), adv, eps, 0.0)
    # A > 0: clipping binds above 1 + eps (1.5), not below (0.5: min keeps the unclipped 0.5 A)
    assert changed.tolist() == [[True, False, False, True, False, False]]
    unclipped_loss = -(ratio * adv)
    assert torch.equal(changed, loss != unclipped_loss)  # exactly the tokens whose loss clipping changed
    _, _, changed_neg = grpo_token_loss(ratio.log(), torch.zeros_like(ratio), torch.zeros_like(ratio), -adv, eps, 0.0)
    assert changed_neg.tolist() == [[False, True, False, False, True, False]]  # A < 0: below 1 - eps


def test_pass_at_k_is_the_unbiased_estimator():
    for n, c, k in itertools.product([6], range(7), range(1, 7)):
        draws = list(itertools.combinations([1] * c + [0] * (n - c), k))
        assert pass_at_k(n, c, k) == pytest.approx(sum(any(d) for d in draws) / len(draws))
    scores = heldout_scores([True, False], [[True, False, False], [False, False, False]], 2)
    assert scores == {"greedy": 0.5, "sampled_mean": pytest.approx(1 / 6), "pass_at_k": pytest.approx(1 / 3),
                      "k": 2, "prompts": 2}


@pytest.mark.parametrize("name", [n for n in TASKS if n.startswith("mdlm_toy")])  # d1_*: test_d1_train_data.py
def test_heldout_prompts_are_disjoint_from_every_training_stream(name):
    task = get_task(name)
    heldout = task.heldout(0, 16)
    assert len(heldout) == 16 and all(is_heldout(d) for d in heldout)
    assert {d["kind"] for d in heldout} == set(task.kinds)
    train_docs = [d for seed in (0, 1) for index in range(6) for d in task.docs(seed, index, 8)]
    assert not any(is_heldout(d) for d in train_docs)  # training streams skip the held-out share
    key = lambda d: (d["kind"], tuple(sorted(d["numbers"])), d["target"]) if d["kind"] == "countdown" else d["puzzle"]
    assert not {key(d) for d in heldout} & {key(d) for d in train_docs}
    assert HELDOUT_ONE_IN == 8


def constant_reward(doc, text):
    return 0.0


def test_a_run_whose_rewards_never_vary_is_warned_once_and_logged(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "rl_scripted", __import__("sys").modules[__name__])
    warnings = []
    cfg = load_config("toy", **SMALL, steps=2, rewards=["rl_scripted:constant_reward"], eval_every=2, eval_prompts=2,
                      pass_k=3)
    train(cfg, tmp_path / "o", warn=warnings.append)
    during = [w for w in warnings if "warned once" in w]
    assert len(during) == 1 and during[0].startswith("step 1:")  # two rollout rounds, one warning
    assert warnings[-1] == "2 of 2 rollout groups (100%) had zero reward spread and taught nothing (log.tsv: zero_spread)"
    assert len(warnings) == 2
    log = read_tsv(tmp_path / "o" / "log.tsv")
    assert log["step"] == [1, 2] and log["zero_spread"] == [1, 1] and log["reward_std"] == [0, 0]
    heldout = read_tsv(tmp_path / "o" / "eval.tsv")
    assert heldout["step"] == [0, 2] and heldout["k"] == [3, 3] and heldout["prompts"] == [2, 2]
    assert all(0 <= v <= 1 for k in ("greedy", "sampled_mean", "pass_at_k") for v in heldout[k])
    png = (tmp_path / "o" / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG") and (tmp_path / "o" / "adapter" / "adapter_config.json").is_file()


def nan_reward(doc, text):
    return float("nan")


def batch_reward(doc, text):
    return [0.0, 1.0]


@pytest.mark.parametrize("overrides, message", [
    (dict(pass_k=7), "pass_k 7 must be between 1 and num_generations 6"),
    (dict(eval_every=5), "eval_every \\(5\\) and eval_prompts \\(0\\) must both be > 0"),
    (dict(rewards=["rl_scripted:nan_reward"]), "rl_scripted:nan_reward returned nan, not a finite number"),
    (dict(rewards=["rl_scripted:batch_reward"]), "rl_scripted:batch_reward returned 2 values for one completion"),
])
def test_bad_diagnostics_input_stops_before_training(tmp_path, monkeypatch, overrides, message):
    monkeypatch.setitem(__import__("sys").modules, "rl_scripted", __import__("sys").modules[__name__])
    with pytest.raises(UsageError, match=message):
        train(load_config("toy", **{**SMALL, **overrides}), tmp_path / "o")
    assert not (tmp_path / "o").exists()
