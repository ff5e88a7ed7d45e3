"""CJ-GRPO and diffu-GRPO on the toy: the losses against direct re-statements, states rebuilt from the trace,
one step towards a scripted reward, 1 vs 2 processes, resume, and the bad-input errors."""
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mdlm_eval.decoding import decode
from mdlm_eval.errors import UsageError
from mdlm_eval.models.loading import load_model
from mdlm_eval.training.cj_grpo import cj_grpo_loss, committed_logps
from mdlm_eval.training.config import load_config
from mdlm_eval.training.diffu_grpo import iteration_logps
from mdlm_eval.training.objectives import group_advantages
from mdlm_eval.training.rollout import state_at
from mdlm_eval.training.trainer import GRPOTrainer, train

SMALL = dict(task="mdlm_toy_countdown", batch_size=6, grad_accum=1, num_iterations=2, lora_r=4, lora_alpha=8,
             save_every=2, threads=1)


def small_config(**overrides):
    return load_config("toy", **{**SMALL, **overrides})


class Recorder(torch.nn.Module):
    """The model, recording every input it is called on."""

    def __init__(self, model):
        super().__init__()
        self.model, self.config, self.inputs = model, model.config, []

    def forward(self, x, attention_mask=None):
        self.inputs.append(x.clone())
        return self.model(x, attention_mask=attention_mask)


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    return GRPOTrainer(small_config(), tmp_path_factory.mktemp("t") / "out")


@pytest.fixture(scope="module")
def rollout(trainer):
    return trainer.make_rollout(0)


def scripted_reward(doc, text):
    """Rewards minus signs: they vary within the toy's groups (its 5-step Countdown answers mix up signs)."""
    return float(text.count("-"))


@pytest.mark.parametrize("decoder", ["eoser_ass", "semi_ar"])
def test_states_rebuilt_from_the_trace_are_the_states_the_decoder_saw(decoder):
    lm = load_model("toy")
    tok = lm.tokenizer
    prompts = [tok.apply_chat_template([{"role": "user", "content": m}], tokenize=False, add_generation_prompt=True)
               for m in ("Countdown:  30 100  93 ->  23", "Sudoku 4x4: 1000020000300004")]
    enc = tok(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
    rec = Recorder(lm.model)
    out = decode(rec, enc["input_ids"], decoder, gen_length=32, steps="log", mask_id=lm.ids.mask_id,
                 eos_token_ids=[lm.ids.eos_id], attention_mask=enc["attention_mask"], seeds=[1, 2], trace=True,
                 temperature=1.0)
    p = enc["input_ids"].shape[1]
    assert len(rec.inputs) == out.trace.num_steps == 5
    for s, seen in enumerate(rec.inputs):
        rebuilt = state_at(enc["input_ids"], out.sequences[:, p:], out.trace.step, s, lm.ids.mask_id)
        assert torch.equal(rebuilt, seen)


def test_cj_grpo_loss_is_the_step_by_step_restatement(trainer, rollout):
    """Loss and gradient of the step-by-step backward equal one loss written over the recorded states."""
    r, mask = rollout, trainer.lm.ids.mask_id
    r.advantages = torch.linspace(-1, 1, len(r.advantages))  # non-zero, distinct advantages
    model, cfg = trainer.policy, trainer.cfg
    with torch.no_grad():  # perturb the adapter so policy, old and reference differ
        for p in trainer.params:
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    model.zero_grad()
    stats = cj_grpo_loss(model, r, mask, epsilon=cfg.epsilon, beta=cfg.beta)
    step_grads = [p.grad.clone() for p in trainer.params]

    # the re-statement: states from the trajectory, tokens = those that differ between x_s and x_{s+1}
    model.zero_grad()
    p_len = r.prompt_ids.shape[1]
    states = [state_at(r.prompt_ids, r.completion, r.commit_step, s, mask) for s in range(r.num_steps + 1)]
    total = 0.0
    for s in range(r.num_steps):
        new = (states[s] != states[s + 1])[:, p_len:]
        logits = model(states[s], attention_mask=r.attention_mask).logits[:, p_len:]
        logp = torch.log_softmax(logits.float(), -1).gather(-1, states[s + 1][:, p_len:, None])[..., 0]
        ratio = torch.exp(logp - r.old_logps)
        adv = r.advantages[:, None]
        pg = -torch.minimum(ratio * adv, torch.clamp(ratio, 0.5, 1.5) * adv)
        kl = torch.exp(r.ref_logps - logp) - (r.ref_logps - logp) - 1
        total = total + ((pg + 0.04 * kl) * new).sum() / new.sum() / r.num_steps
    total.backward()
    assert math.isclose(stats["loss"], total.item(), rel_tol=1e-5, abs_tol=1e-7)
    for a, p in zip(step_grads, trainer.params):
        assert torch.allclose(a, p.grad, atol=1e-6)
    model.zero_grad()


def test_old_logps_are_the_log_probabilities_of_each_committed_token(trainer, rollout):
    r, mask = rollout, trainer.lm.ids.mask_id
    trainer.policy.eval()
    lp = committed_logps(trainer.policy, r, mask)
    b, j = 0, int(r.commit_step[0].argmax())  # the position committed last in row 0
    x = state_at(r.prompt_ids, r.completion, r.commit_step, int(r.commit_step[b, j]), mask)
    with torch.no_grad():
        logits = trainer.policy(x, attention_mask=r.attention_mask).logits[b, r.prompt_ids.shape[1] + j]
    assert torch.isclose(lp[b, j], torch.log_softmax(logits, -1)[r.completion[b, j]], atol=1e-5)


def surrogate(trainer, r):
    """sum_i A_i log pi(sample_i): the quantity a policy-gradient step must raise."""
    trainer.policy.eval()
    if trainer.cfg.method == "cj-grpo":
        logp = committed_logps(trainer.policy, r, trainer.lm.ids.mask_id).sum(1)
    else:
        logp = iteration_logps(trainer.policy, r, trainer.lm.ids.mask_id, trainer.cfg.p_mask_prompt)[0].sum(1)
    return (r.advantages * logp).sum().item()


@pytest.mark.parametrize("method", ["cj-grpo", "diffu-grpo"])
def test_one_step_moves_the_adapter_towards_higher_reward(tmp_path, method):
    tr = GRPOTrainer(small_config(method=method, num_iterations=1, lr=1e-3), tmp_path / "o")
    tr.rewards = {"countdown": [("scripted", scripted_reward)]}
    r = tr.make_rollout(0)
    assert r.advantages.abs().sum() > 0
    before = surrogate(tr, r)
    tr.buffer = [r]
    tr.train_step()
    assert surrogate(tr, r) > before


def test_advantages_subtract_the_group_mean_and_optionally_divide_by_its_std():
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 2.0, 4.0])
    assert torch.allclose(group_advantages(rewards, 3), torch.tensor([2 / 3, -1 / 3, -1 / 3, -2, 0, 2]))
    scaled = group_advantages(rewards, 3, scale_by_std=True)
    assert torch.allclose(scaled[3:], torch.tensor([-1.0, 0, 1]), atol=1e-3)


def adapter_weights(folder):
    return load_file(str(Path(folder) / "adapter_model.safetensors"))


def test_resume_gives_the_adapter_of_an_uninterrupted_run(tmp_path):
    cfg = small_config(steps=4, num_iterations=3, sync_ref_every=2)
    whole = train(cfg, tmp_path / "whole")

    def killed(step, stats):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", progress=killed)
    assert [p.name for p in (tmp_path / "cut").glob("checkpoint-*")] == ["checkpoint-2"]
    resumed = train(cfg, tmp_path / "cut", resume=True)
    a, b = adapter_weights(whole), adapter_weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = (tmp_path / "cut" / "log.tsv").read_text().splitlines()
    assert [r.split("\t")[0] for r in rows[1:]] == ["1", "2", "3", "4"]


DDP_SCRIPT = textwrap.dedent("""
    import sys


    def minus_signs(doc, text):
        return float(text.count("-"))


    if __name__ == "__main__":
        from accelerate import PartialState
        from mdlm_eval.training.config import load_config
        from mdlm_eval.training.trainer import train

        cfg = load_config("toy", task="mdlm_toy_countdown", batch_size=6, grad_accum=int(sys.argv[2]), num_iterations=2,
                          lora_r=4, lora_alpha=8, steps=2, threads=1, rewards=["run:minus_signs"])
        train(cfg, sys.argv[1])
        state = PartialState()
        print("world", state.num_processes, state.backend)
""")


def test_two_processes_give_the_adapter_of_one_with_the_same_global_batch(tmp_path):
    """torch.distributed.run (what `accelerate launch --multi_gpu` starts) with 2 CPU processes over gloo."""
    script = tmp_path / "run.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for out, procs, accum in (("one", "1", "2"), ("two", "2", "1")):
        proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", procs,
                               "--master_port", "29517", str(script), str(tmp_path / out), accum],
                              capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert f"world {procs}" in proc.stdout
    assert "gloo" in proc.stdout
    a, b = adapter_weights(tmp_path / "one" / "adapter"), adapter_weights(tmp_path / "two" / "adapter")
    assert a.keys() == b.keys()
    for k in a:  # equal up to float summation order (Adam moves each weight by ~lr = 5e-4 per step)
        assert torch.allclose(a[k], b[k], rtol=0, atol=2e-5), k
    assert any(a[k].abs().max() > 0 for k in a if "lora_B" in k)  # the adapter moved


@pytest.mark.parametrize("overrides, message", [
    (dict(task="gsm8k_train"), "has no training set"),
    (dict(rewards=["nope"]), "reward 'nope' is unknown"),
    (dict(decoder_overrides={"cfg_scale": 1.0}), "cannot be traced"),
    (dict(num_generations=1, batch_size=1), "num_generations must be >= 2"),
    (dict(temperature=0.0), "temperature > 0"),
    (dict(method="ppo"), "method 'ppo' is unknown"),
])
def test_bad_configs_stop_before_training(tmp_path, overrides, message):
    with pytest.raises(UsageError, match=message):
        train(small_config(**overrides), tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_a_reward_returning_a_non_number_stops_before_training(tmp_path, monkeypatch):
    (tmp_path / "my_rewards.py").write_text("def text_reward(doc, text):\n    return 'good'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UsageError, match="my_rewards:text_reward returned 'good', not a finite number"):
        train(small_config(rewards=["my_rewards:text_reward"]), tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_a_non_empty_output_folder_and_a_mismatched_adapter_are_refused(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep")
    with pytest.raises(UsageError, match="not empty"):
        train(small_config(), tmp_path / "full")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        '{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "base_model_name_or_path": "GSAI-ML/LLaDA-8B-Instruct"}')
    with pytest.raises(UsageError, match="does not fit base model toy"):
        train(small_config(), tmp_path / "o", peft=str(adapter))
    assert not (tmp_path / "o").exists()


def test_cli_train_error_is_one_line_and_exit_code_2(tmp_path):
    exe = Path(sys.executable).with_name("mdlm-eval")
    proc = subprocess.run([str(exe), "train", "cj-grpo", "--task", "nope", "--steps", "1", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "task 'nope' has no training set" in proc.stderr and not (tmp_path / "o").exists()
