"""The GRPO trainer shared by CJ-GRPO and diffu-GRPO: rollouts, rewards, LoRA updates, checkpoints.

One optimizer step (TRL GRPOTrainer's order, as both reference trainers use it): every `num_iterations` steps each
process draws `grad_accum` micro-batches of prompts (a seeded stream: micro-batch m of process k in rollout round
r is stream index (r * grad_accum + m) * world + k, so 1 process x 2 accumulation sees what 2 processes x 1 see),
decodes `num_generations` samples per prompt with the run's decoder at temperature > 0 (per-sample seeds), scores
them, and computes group-relative advantages and the old / reference log-probs (reference = the base with the
adapter disabled, until the first sync); then every step back-propagates the method's loss on each buffered
micro-batch (/ grad_accum), averages gradients over processes, clips and steps AdamW. Every `sync_ref_every`
steps the reference becomes alpha * policy + (1 - alpha) * reference on the adapter's weights (TRL's sync).

Writes into the output folder: config.yaml, log.tsv (step, loss, reward, reward_std, kl, clip_ratio, lr, seconds),
checkpoint-N/ (a peft adapter folder + trainer_state.pt with optimizer, buffered rollouts, reference, step) every
`save_every` steps (the latest kept), and adapter/ (the final peft adapter).
"""
from __future__ import annotations

import math
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Optional

import torch

from mdlm_eval.decoding import load_spec
from mdlm_eval.errors import UsageError
from mdlm_eval.training.cj_grpo import cj_grpo_loss, committed_logps
from mdlm_eval.training.config import LLADA_TARGETS, TOY_TARGETS, GRPOConfig
from mdlm_eval.training.diffu_grpo import diffu_grpo_loss, iteration_logps
from mdlm_eval.training.objectives import group_advantages
from mdlm_eval.training.rewards import as_number, resolve_reward
from mdlm_eval.training.rollout import Rollout, sample
from mdlm_eval.training.tasks import get_task

METHODS = ("cj-grpo", "diffu-grpo")
LOG_COLUMNS = ("step", "loss", "reward", "reward_std", "kl", "clip_ratio", "lr", "seconds")


def check_config(cfg: GRPOConfig):
    """Validate everything that needs no model; returns (task, rewards, decoder spec)."""
    if cfg.method not in METHODS:
        raise UsageError(f"method '{cfg.method}' is unknown; choose one of {', '.join(METHODS)}")
    task = get_task(cfg.task)
    rewards = {kind: [(name, resolve_reward(name, kind)) for name in (cfg.rewards or task.rewards[kind])]
               for kind in task.kinds}
    if not isinstance(cfg.steps, int) or cfg.steps <= 0:
        raise UsageError(f"--steps must be a positive integer, got {cfg.steps}")
    if cfg.num_generations < 2:
        raise UsageError(f"num_generations must be >= 2 (advantages are relative to the group), got {cfg.num_generations}")
    if cfg.batch_size < 1 or cfg.batch_size % cfg.num_generations:
        raise UsageError(f"batch_size {cfg.batch_size} must be a positive multiple of num_generations {cfg.num_generations}")
    if cfg.grad_accum < 1 or (cfg.num_iterations is not None and cfg.num_iterations < 1):
        raise UsageError("grad_accum and num_iterations must be >= 1")
    spec = load_spec(cfg.decoder).with_overrides(steps=cfg.decode_steps, temperature=cfg.temperature,
                                                  **cfg.decoder_overrides)
    if spec.temperature <= 0:
        raise UsageError(f"rollouts need temperature > 0 (GRPO compares sampled completions), got {spec.temperature}")
    if spec.cfg_scale > 0:
        raise UsageError(f"decoder {cfg.decoder} with cfg_scale {spec.cfg_scale} cannot be traced for training: "
                         f"its steps score guided logits, the loss the model's own")
    return task, rewards, spec


def probe_rewards(task, rewards) -> None:
    """Call each reward on a correct and an empty answer: a non-number stops the run before training."""
    for index in range(len(task.kinds)):
        doc = task.docs(0, index, 1)[0]
        for name, fn in rewards[doc["kind"]]:
            for text in (task.answer(doc), ""):
                as_number(fn(doc, text), name)


def check_out(out: Path, resume: bool) -> Path | None:
    """The output folder; with `resume`, the latest checkpoint in it."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    if resume:
        ckpts = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])) if out.is_dir() else []
        if not ckpts:
            raise UsageError(f"--resume: {out} has no checkpoint-N folder to resume from")
        return ckpts[-1]
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(f"--out {out} exists and is not empty; give a new or empty folder (or --resume)")
    return None


def build_policy(cfg: GRPOConfig, lm, peft: str | None):
    """The LoRA-wrapped model (peft), fresh or continuing `peft`, with the base frozen."""
    from peft import LoraConfig, PeftModel, get_peft_model

    base = lm.model.model if hasattr(lm.model, "model") and lm.model.__class__.__name__ == "ShiftedLogits" else lm.model
    torch.manual_seed(cfg.seed)  # LoRA A's initialisation
    if peft:
        from mdlm_eval.models.loading import resolve_adapter

        path = resolve_adapter(peft)
        if not (Path(path) / "adapter_config.json").is_file():
            raise UsageError(f"adapter folder {path} lacks adapter_config.json")
        try:
            model = PeftModel.from_pretrained(base, str(path), is_trainable=True)
        except (ValueError, RuntimeError, KeyError, AttributeError) as e:
            raise UsageError(f"adapter {peft} does not fit base model {cfg.model}: {str(e).splitlines()[0]}") from None
    else:
        toy = getattr(base.config, "model_type", "") == "mdlm_toy"
        targets = cfg.lora_targets or (TOY_TARGETS if toy else LLADA_TARGETS)
        lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          target_modules=targets)
        try:
            model = get_peft_model(base, lora)
        except ValueError as e:
            raise UsageError(f"LoRA targets {targets} do not fit model {cfg.model}: {str(e).splitlines()[0]}") from None
    model.peft_config["default"].base_model_name_or_path = cfg.model
    if base is not lm.model:  # Dream: keep the logit shift around the adapted model
        from mdlm_eval.models.profiles import ShiftedLogits

        return model, ShiftedLogits(model)
    return model, model


class GRPOTrainer:
    def __init__(self, cfg: GRPOConfig, out: Path, peft: str | None = None, resume: bool = False,
                 accelerator=None):
        from accelerate import Accelerator

        from mdlm_eval.models.loading import load_model

        self.cfg, self.out = cfg, Path(out)
        self.task, self.rewards, self.spec = check_config(cfg)
        self.resume_from = check_out(self.out, resume)
        probe_rewards(self.task, self.rewards)
        self.acc = accelerator or Accelerator(cpu=not torch.cuda.is_available())
        self.world, self.rank = self.acc.num_processes, self.acc.process_index
        self.iterations = cfg.num_iterations or self.task.num_iterations
        self.lm = load_model(cfg.model, dtype=cfg.dtype, device=str(self.acc.device))
        self.peft_model, self.policy = build_policy(cfg, self.lm, peft)
        self.gen_length = cfg.gen_length or self.lm.default_gen_length or 256
        self.spec.resolve_steps(self.gen_length)  # a step count the canvas cannot take stops here
        self.params = [p for p in self.peft_model.parameters() if p.requires_grad]
        self.names = [n for n, p in self.peft_model.named_parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2),
                                     weight_decay=cfg.weight_decay)
        self.ref_state: list[torch.Tensor] | None = None  # None: the base, adapter disabled
        self.init_state = [p.detach().clone() for p in self.params]
        self.buffer: list[Rollout] = []
        self.step = 0

    # ---- reference model ----
    @contextmanager
    def reference(self):
        """The reference model: the base with the adapter disabled, or the synced adapter weights."""
        if self.ref_state is None:
            with self.peft_model.disable_adapter():
                yield self.policy
            return
        saved = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p, r in zip(self.params, self.ref_state):
                p.copy_(r)
        try:
            yield self.policy
        finally:
            with torch.no_grad():
                for p, s in zip(self.params, saved):
                    p.copy_(s)

    def sync_reference(self) -> None:
        """TRL's SyncRefModelCallback on the adapter weights: ref <- alpha * policy + (1 - alpha) * ref."""
        a = self.cfg.ref_mixup_alpha
        ref = self.ref_state if self.ref_state is not None else self.init_state
        self.ref_state = [a * p.detach() + (1 - a) * r for p, r in zip(self.params, ref)]

    # ---- rollouts ----
    def stream_index(self, round_: int, micro: int) -> int:
        return (round_ * self.cfg.grad_accum + micro) * self.world + self.rank

    @torch.no_grad()
    def make_rollout(self, index: int) -> Rollout:
        cfg, tok, ids = self.cfg, self.lm.tokenizer, self.lm.ids
        G = cfg.num_generations
        docs = [d for d in self.task.docs(cfg.seed, index, cfg.batch_size // G) for _ in range(G)]
        prompts = [tok.apply_chat_template([{"role": "user", "content": self.task.message(d)}], tokenize=False,
                                           add_generation_prompt=True) for d in docs]
        enc = tok(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
        device = self.acc.device
        prompt_ids, prompt_mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
        seeds = [(cfg.seed * 1_000_003 + index) * 1024 + row for row in range(len(docs))]
        self.policy.eval()
        completion, commit_step, num_steps = sample(
            self.policy, prompt_ids, prompt_mask, self.spec, gen_length=self.gen_length, steps=None,
            mask_id=ids.mask_id, eos_token_ids=ids.eos_ids_for(self.spec.eos_policy), seeds=seeds)
        texts = [tok.decode(row, skip_special_tokens=False) for row in completion.cpu()]
        rewards = torch.tensor([sum(as_number(fn(d, t), name) for name, fn in self.rewards[d["kind"]])
                                for d, t in zip(docs, texts)], dtype=torch.float32, device=device)
        r = Rollout(prompt_ids, prompt_mask, completion, commit_step, num_steps, rewards,
                    group_advantages(rewards, G, cfg.scale_rewards), texts)
        if cfg.method == "cj-grpo":
            if self.iterations > 1:
                r.old_logps = committed_logps(self.policy, r, ids.mask_id)
            if cfg.beta != 0:
                with self.reference() as ref:
                    r.ref_logps = committed_logps(ref, r, ids.mask_id)
        else:
            gen = torch.Generator().manual_seed(cfg.seed * 7919 + index)
            r.mask_seeds = torch.randint(0, 2**12, (self.iterations,), generator=gen).tolist()  # d1's draw
            if self.iterations > 1:
                r.old_logps = iteration_logps(self.policy, r, ids.mask_id, cfg.p_mask_prompt)
            if cfg.beta != 0:
                with self.reference() as ref:
                    r.ref_logps = iteration_logps(ref, r, ids.mask_id, cfg.p_mask_prompt)
        return r

    # ---- one optimizer step ----
    def loss_and_backward(self, r: Rollout, iteration: int, scale: float) -> dict[str, float]:
        cfg, ids = self.cfg, self.lm.ids
        if cfg.method == "cj-grpo":
            return cj_grpo_loss(self.policy, r, ids.mask_id, epsilon=cfg.epsilon, beta=cfg.beta, scale=scale)
        return diffu_grpo_loss(self.policy, r, ids.mask_id, ids.eos_id, iteration, epsilon=cfg.epsilon,
                               beta=cfg.beta, p_mask_prompt=cfg.p_mask_prompt, scale=scale)

    def lr_at(self, step: int) -> float:
        """Constant with linear warm-up over ceil(warmup_ratio * steps) steps (HF constant_with_warmup)."""
        warmup = math.ceil(self.cfg.warmup_ratio * self.cfg.steps)
        return self.cfg.lr * (min(1.0, step / warmup) if warmup else 1.0)

    def train_step(self) -> dict[str, float]:
        cfg, step = self.cfg, self.step
        iteration = step % self.iterations
        if iteration == 0 or not self.buffer:
            round_ = step // self.iterations
            self.buffer = [self.make_rollout(self.stream_index(round_, m)) for m in range(cfg.grad_accum)]
        self.policy.train()
        totals = {"loss": 0.0, "kl": 0.0, "clip_ratio": 0.0}
        for r in self.buffer:
            for k, v in self.loss_and_backward(r, iteration, 1.0 / cfg.grad_accum).items():
                totals[k] += v / cfg.grad_accum
        for p in self.params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        if self.world > 1:
            flat = torch.cat([p.grad.reshape(-1) for p in self.params])
            flat = self.acc.reduce(flat, reduction="mean")
            offset = 0
            for p in self.params:
                p.grad.copy_(flat[offset: offset + p.numel()].view_as(p))
                offset += p.numel()
        torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
        lr = self.lr_at(step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.step += 1
        if cfg.sync_ref_every and self.step % cfg.sync_ref_every == 0:
            self.sync_reference()
        rewards = torch.cat([r.rewards for r in self.buffer])
        stats = {**totals, "reward": rewards.mean().item(),
                 "reward_std": rewards.view(-1, cfg.num_generations).std(dim=1).mean().item(), "lr": lr}
        if self.world > 1:
            keys = sorted(stats)
            vals = self.acc.reduce(torch.tensor([stats[k] for k in keys], device=self.acc.device), reduction="mean")
            stats = dict(zip(keys, vals.tolist()))
        return stats

    # ---- checkpoints ----
    def save_adapter(self, folder: Path) -> None:
        self.peft_model.save_pretrained(str(folder), save_embedding_layers=False)

    def save_checkpoint(self) -> None:
        if not self.acc.is_main_process:
            return
        final = self.out / f"checkpoint-{self.step}"
        tmp = self.out / f".tmp-checkpoint-{self.step}"
        shutil.rmtree(tmp, ignore_errors=True)
        self.save_adapter(tmp)
        torch.save({"step": self.step, "optimizer": self.opt.state_dict(), "buffer": self.buffer,
                    "ref_state": self.ref_state, "rng": torch.get_rng_state()}, tmp / "trainer_state.pt")
        tmp.rename(final)
        for old in self.out.glob("checkpoint-*"):
            if old != final:
                shutil.rmtree(old)

    def load_checkpoint(self, folder: Path) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        set_peft_model_state_dict(self.peft_model, load_file(str(folder / "adapter_model.safetensors")))
        state = torch.load(folder / "trainer_state.pt", weights_only=False)
        self.opt.load_state_dict(state["optimizer"])
        self.buffer, self.ref_state, self.step = state["buffer"], state["ref_state"], state["step"]
        torch.set_rng_state(state["rng"])

    # ---- the run ----
    def run(self, progress: Optional[Callable[[int, dict], None]] = None) -> Path:
        cfg, out = self.cfg, self.out
        log_path = out / "log.tsv"
        if self.resume_from is not None:
            self.load_checkpoint(self.resume_from)
            if self.acc.is_main_process:
                (out / "config.yaml").write_text(cfg.to_yaml())  # the same run, perhaps with more steps
            if self.acc.is_main_process and log_path.is_file():  # drop the rows after the checkpoint
                rows = log_path.read_text().splitlines()
                log_path.write_text("\n".join([rows[0]] + [r for r in rows[1:] if int(r.split("\t")[0]) <= self.step]) + "\n")
        elif self.acc.is_main_process:
            out.mkdir(parents=True, exist_ok=True)
            (out / "config.yaml").write_text(cfg.to_yaml())
            log_path.write_text("\t".join(LOG_COLUMNS) + "\n")
        start = time.time()
        while self.step < cfg.steps:
            stats = self.train_step()
            if self.acc.is_main_process:
                with open(log_path, "a") as log:
                    log.write("\t".join([str(self.step)] + [f"{stats[k]:.6g}" for k in LOG_COLUMNS[1:-1]]
                                        + [f"{time.time() - start:.1f}"]) + "\n")
            if self.step % cfg.save_every == 0 or self.step == cfg.steps:
                self.save_checkpoint()
            if progress is not None:
                progress(self.step, stats)
        if self.acc.is_main_process:
            tmp = out / ".tmp-adapter"
            shutil.rmtree(tmp, ignore_errors=True)
            self.save_adapter(tmp)
            shutil.rmtree(out / "adapter", ignore_errors=True)
            tmp.rename(out / "adapter")
        self.acc.wait_for_everyone()
        return out / "adapter"


def train(cfg: GRPOConfig, out: str | os.PathLike, *, peft: str | None = None, resume: bool = False,
          progress: Optional[Callable[[int, dict], None]] = None, accelerator=None) -> Path:
    """Run one GRPO training; returns the final adapter folder. Bad input raises UsageError before training.

    With `resume`, the hyperparameters are those saved in `out/config.yaml`."""
    out = Path(out)
    if resume and (out / "config.yaml").is_file():
        from mdlm_eval.training.config import load_config

        cfg = load_config(out / "config.yaml", steps=cfg.steps)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return GRPOTrainer(cfg, out, peft=peft, resume=resume, accelerator=accelerator).run(progress)
    finally:
        torch.set_num_threads(threads)
