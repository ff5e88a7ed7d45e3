"""The trainer's defaults against the references' settings, the rewards against d1's on fixed strings, and the
rollouts' Gumbel-noise dtype."""
import pytest
import torch

from mdlm_eval.decoding.sampling import make_sampler
from mdlm_eval.errors import UsageError
from mdlm_eval.training.config import GRPOConfig, load_config
from mdlm_eval.training.rewards import countdown_boxed, d1_countdown, d1_sudoku
from mdlm_eval.training.tasks import get_task
from mdlm_eval.training.trainer import check_config

# EOSER-ASS-RL cj-grpo/slurm_scripts/train.yaml and d1 diffu-grpo/slurm_scripts/train.yaml (+ DiffuGRPOConfig)
REFERENCE = dict(lr=3e-6, warmup_ratio=0.0001, adam_beta1=0.9, adam_beta2=0.99, weight_decay=0.1, max_grad_norm=0.2,
                 num_generations=6, batch_size=6, grad_accum=2, epsilon=0.5, beta=0.04, p_mask_prompt=0.15,
                 lora_r=128, lora_alpha=64, lora_dropout=0.05, scale_rewards=False, gradient_checkpointing=False,
                 noise_dtype="model")


def test_defaults_are_the_references():
    cfg = GRPOConfig()
    assert {k: getattr(cfg, k) for k in REFERENCE} == REFERENCE
    assert cfg.sync_ref_every == 0  # under PEFT TRL keeps no separate reference model: the anchor is the base


@pytest.mark.parametrize("method,temperature", [("cj-grpo", 1.0), ("diffu-grpo", 0.9)])
def test_rollout_temperature_is_the_methods_unless_set(method, temperature):
    assert load_config(method=method).temperature == temperature
    assert load_config("toy", method=method).temperature == temperature
    assert load_config(method=method, temperature=0.7).temperature == 0.7
    assert check_config(load_config(method=method))[2].temperature == temperature


# (text, d1's countdown_reward_func) for numbers [3, 5, 7], target 22: values from running d1's reward_func.py
D1_COUNTDOWN = [
    ("<answer>3*5+7</answer>", 1.0), ("<answer> 7 + 3 * 5 </answer>", 1.0),
    ("<answer>3*5+7</answer> then <answer>3+5+7</answer>", 0.1), ("no answer tag \\boxed{3*5+7}", 0.0), ("", 0.0),
    ("<answer>3*5+8</answer>", 0.1), ("<answer>3*5-7</answer>", 0.1), ("<answer>3*5+7=22</answer>", 0.1),
    ("<answer>(3+5)*7/0</answer>", 0.1), ("<answer>3 5 7</answer>", 0.1), ("<answer>3**5+7</answer>", 0.1),
    ("<answer></answer>", 0.1), ("<answer>3*5+7", 0.0),
]
# (text, d1's sudoku_reward_func) for puzzle 1000020000300004, solution 1342423131242413
D1_SUDOKU = [
    ("<answer>1342423131242413</answer>", 1.0), ("<answer>1342 4231\n3124 2413</answer>", 1.0),
    ("<answer>13424231</answer>", 0.5), ("<answer>1111111111111111</answer>", 0.25), ("1342423131242413", 0.0),
    ("<answer>x</answer>", 0.0), ("<answer>13424231312424139999</answer>", 1.0),
]


@pytest.mark.parametrize("text,expected", D1_COUNTDOWN)
def test_d1_countdown_is_d1s_reward(text, expected):
    assert d1_countdown({"numbers": [3, 5, 7], "target": 22}, text) == expected


@pytest.mark.parametrize("text,expected", D1_SUDOKU)
def test_d1_sudoku_is_d1s_reward(text, expected):
    assert d1_sudoku({"puzzle": "1000020000300004", "solution": "1342423131242413"}, text) == expected


def test_the_toys_boxed_countdown_reward_gives_nothing_without_a_box():
    doc = {"numbers": [3, 5, 7], "target": 22}
    assert countdown_boxed(doc, "3*5+7") == 0.0  # d1: 0 without an answer
    assert countdown_boxed(doc, "\\boxed{3*5+8}") == 0.1
    assert countdown_boxed(doc, "so \\boxed{3*5+7}") == 1.0


def test_task_defaults_are_d1s_and_the_toy_config_names_its_box_reward():
    task = get_task("mdlm_toy")
    assert task.rewards["countdown"] == ("d1_countdown",)
    rewards = check_config(load_config("toy", task="mdlm_toy"))[1]
    assert [n for n, _ in rewards["countdown"]] == ["countdown_boxed"]
    assert [n for n, _ in rewards["sudoku"]] == ["d1_sudoku"]
    with pytest.raises(UsageError, match="rewards name unknown task kind"):
        check_config(load_config("toy", task="mdlm_toy_countdown", rewards={"mbpp": ["acc"]}))  # gsm8k and math are kinds (d1_*)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float64])
def test_gumbel_noise_is_drawn_in_the_given_dtype_as_the_references_add_gumbel_noise(dtype):
    logits = torch.randn(5, 50, generator=torch.Generator().manual_seed(0)) * 3

    def uniform(width, dtype_=torch.float64):
        return torch.rand(5, width, generator=torch.Generator().manual_seed(1), dtype=dtype_)

    # add_gumbel_noise(logits, T, dtype): logits.to(dtype).exp() / (-log(rand_like(logits, dtype))) ** T
    expected = (logits.to(dtype).exp() / (-torch.log(uniform(50, dtype))) ** 0.9).argmax(-1)
    choose = make_sampler("llada", 0.9, None, None, dtype).choose
    assert torch.equal(choose(logits, uniform, [0], [5], None), expected)
    if dtype is torch.float64:  # the decoders' default
        assert torch.equal(make_sampler("llada", 0.9, None, None).choose(logits, uniform, [0], [5], None), expected)


def test_an_unknown_noise_dtype_is_refused():
    with pytest.raises(UsageError, match="noise_dtype 'float8'"):
        check_config(load_config("toy", noise_dtype="float8"))


def test_rollouts_draw_their_noise_in_the_configured_dtype(tmp_path):
    """`model` follows the model's dtype (the toy: float32); float64 gives the evaluation decoders' draws."""
    from mdlm_eval.training.trainer import GRPOTrainer

    small = dict(task="mdlm_toy_countdown", batch_size=12, grad_accum=1, num_iterations=1, lora_r=4, lora_alpha=8,
                 threads=1)
    rollouts = {}
    for noise in ("model", "float64"):
        tr = GRPOTrainer(load_config("toy", noise_dtype=noise, **small), tmp_path / noise)
        assert tr.noise_dtype == {"model": torch.float32, "float64": torch.float64}[noise]
        rollouts[noise] = tr.make_rollout(0).completion
    assert not torch.equal(rollouts["model"], rollouts["float64"])  # the same seeds, other draws
