"""The GRPO trainer shared by CJ-GRPO and diffu-GRPO: rollouts, rewards, LoRA updates, checkpoints.

One optimizer step (TRL GRPOTrainer's order, as both reference trainers use it): every `num_iterations` steps each
process draws `grad_accum` micro-batches of prompts (a seeded stream: micro-batch m of process k in rollout round
r is stream index (r * grad_accum + m) * world + k, so 1 process x 2 accumulation sees what 2 processes x 1 see),
decodes `num_generations` samples per prompt with the run's decoder at temperature > 0 (per-sample seeds), scores
them, and computes group-relative advantages and the old / reference log-probs (reference = the base with the
adapter disabled, until the first sync); then every step back-propagates the method's loss on each buffered
micro-batch (/ grad_accum), averages gradients over processes, clips and steps AdamW. With `sync_ref_every` N > 0
(off by default, as in both references under PEFT), every N steps the reference becomes
alpha * policy + (1 - alpha) * reference on the adapter's weights (TRL's sync).

Writes into the output folder: config.yaml, log.tsv (`diagnostics.LOG_COLUMNS`, one row per step), eval.tsv (the
held-out scores every `eval_every` steps, from step 0), checkpoint-N/ (a peft adapter folder + trainer_state.pt
with optimizer, buffered rollouts, reference, step) every `save_every` steps (the latest kept), adapter/ (the final
peft adapter) and curves.png (`diagnostics.plot_curves`). Rollout rounds in which every group has zero reward
spread are warned about once during the run, and the share of zero-spread groups once at the end.
"""
from __future__ import annotations

import math
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Optional

import torch

from mdlm_eval.block_default import block_override
from mdlm_eval.decoding import load_spec
from mdlm_eval.errors import UsageError
from mdlm_eval.training import diagnostics
from mdlm_eval.training.cj_grpo import cj_grpo_loss, committed_logps
from mdlm_eval.training.config import LLADA_TARGETS, TOY_TARGETS, GRPOConfig
from mdlm_eval.training.diffu_grpo import diffu_grpo_loss, iteration_logps
from mdlm_eval.training.objectives import group_advantages
from mdlm_eval.training.rewards import PLAIN_TEXT, REWARDS, as_number, resolve_reward
from mdlm_eval.training.rollout import Rollout, sample
from mdlm_eval.training.tasks import get_task

METHODS = ("cj-grpo", "diffu-grpo")
NOISE_DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16}  # or "model"
LOG_COLUMNS = diagnostics.LOG_COLUMNS


def reward_names(cfg: GRPOConfig, task, kind: str) -> list[str]:
    """The run's rewards for docs of `kind`: the config's list, its entry for `kind`, or the task's default."""
    if isinstance(cfg.rewards, dict):  # entries for kinds the task lacks are unused (one config, several tasks)
        unknown = set(cfg.rewards) - set(REWARDS)
        if unknown:
            raise UsageError(f"rewards name unknown task kind(s) {', '.join(sorted(unknown))}; "
                             f"kinds: {', '.join(REWARDS)}")
        return list(cfg.rewards.get(kind) or task.rewards[kind])
    return list(cfg.rewards or task.rewards[kind])


def check_config(cfg: GRPOConfig):
    """Validate everything that needs no model; returns (task, rewards, decoder spec)."""
    if cfg.method not in METHODS:
        raise UsageError(f"method '{cfg.method}' is unknown; choose one of {', '.join(METHODS)}")
    task = get_task(cfg.task)
    rewards = {kind: [(name, resolve_reward(name, kind)) for name in reward_names(cfg, task, kind)]
               for kind in task.kinds}
    if not isinstance(cfg.steps, int) or cfg.steps <= 0:
        raise UsageError(f"--steps must be a positive integer, got {cfg.steps}")
    if cfg.num_generations < 2:
        raise UsageError(f"num_generations must be >= 2 (advantages are relative to the group), got {cfg.num_generations}")
    if cfg.batch_size < 1 or cfg.batch_size % cfg.num_generations:
        raise UsageError(f"batch_size {cfg.batch_size} must be a positive multiple of num_generations {cfg.num_generations}")
    if cfg.noise_dtype != "model" and cfg.noise_dtype not in NOISE_DTYPES:
        raise UsageError(f"noise_dtype '{cfg.noise_dtype}' is unknown; choose model, {', '.join(NOISE_DTYPES)}")
    if cfg.grad_accum < 1 or (cfg.num_iterations is not None and cfg.num_iterations < 1):
        raise UsageError("grad_accum and num_iterations must be >= 1")
    if cfg.eval_every < 0 or cfg.eval_prompts < 0 or (cfg.eval_every > 0) != (cfg.eval_prompts > 0):
        raise UsageError(f"eval_every ({cfg.eval_every}) and eval_prompts ({cfg.eval_prompts}) must both be > 0 "
                         f"(held-out evaluation) or both 0")
    if cfg.pass_k is not None and not 1 <= cfg.pass_k <= cfg.num_generations:
        raise UsageError(f"pass_k {cfg.pass_k} must be between 1 and num_generations {cfg.num_generations} "
                         f"(the samples per held-out prompt)")
    overrides = dict(cfg.decoder_overrides)
    # a preset's block is the model's own where it names one (the toy's 8), as at evaluation (block_default.py)
    block, _ = block_override(cfg.decoder, overrides.pop("block_length", None), cfg.model, cfg.gen_length)
    if block is not None:
        overrides["block_length"] = block
    spec = load_spec(cfg.decoder).with_overrides(steps=cfg.decode_steps, temperature=cfg.temperature, **overrides)
    if spec.temperature <= 0:
        raise UsageError(f"rollouts need temperature > 0 (GRPO compares sampled completions), got {spec.temperature}")
    if spec.cfg_scale > 0:
        raise UsageError(f"decoder {cfg.decoder} with cfg_scale {spec.cfg_scale} cannot be traced for training: "
                         f"its steps score guided logits, the loss the model's own")
    return task, rewards, spec


def probe_rewards(task, rewards) -> None:
    """Call each reward on a correct and an empty answer: anything but one finite number (NaN, a list of
    scores, text) stops the run before training."""
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


def enable_checkpointing(base, name: str) -> None:
    """Activation checkpointing the transformers way: each block's activations recomputed in backward."""
    if not getattr(base, "supports_gradient_checkpointing", False):
        raise UsageError(f"gradient_checkpointing: model {name} ({type(base).__name__}) cannot recompute its "
                         f"activations; set gradient_checkpointing: false")
    base.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})


def build_policy(cfg: GRPOConfig, lm, peft: str | None):
    """The LoRA-wrapped model (peft), fresh or continuing `peft`, with the base frozen."""
    from peft import LoraConfig, PeftModel, get_peft_model

    base = lm.model.model if hasattr(lm.model, "model") and lm.model.__class__.__name__ == "ShiftedLogits" else lm.model
    if cfg.gradient_checkpointing:
        enable_checkpointing(base, cfg.model)
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
        self.noise_dtype = (next(self.lm.model.parameters()).dtype if cfg.noise_dtype == "model"
                            else NOISE_DTYPES[cfg.noise_dtype])
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
        self.zero_groups = [0, 0]  # groups with zero reward spread, groups in all (over rollout rounds)
        self.warned_zero = False
        self.warn: Callable[[str], None] = lambda m: print(f"mdlm-eval: warning: {m}", file=sys.stderr)

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

    def generate(self, docs: list[dict], seeds: list[int], spec=None):
        """Decode one completion per doc with the rollout decoder (or `spec`): (prompt ids, prompt mask,
        completion, commit steps, number of steps, texts)."""
        tok, ids, spec = self.lm.tokenizer, self.lm.ids, spec or self.spec
        prompts = [tok.apply_chat_template([{"role": "user", "content": self.task.message(d)}], tokenize=False,
                                           add_generation_prompt=True) for d in docs]
        enc = tok(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
        prompt_ids, prompt_mask = enc["input_ids"].to(self.acc.device), enc["attention_mask"].to(self.acc.device)
        self.policy.eval()
        completion, commit_step, num_steps = sample(
            self.policy, prompt_ids, prompt_mask, spec, gen_length=self.gen_length, steps=None,
            mask_id=ids.mask_id, eos_token_ids=ids.eos_ids_for(spec.eos_policy), seeds=seeds,
            noise_dtype=self.noise_dtype)
        texts = [tok.decode(row, skip_special_tokens=False) for row in completion.cpu()]
        return prompt_ids, prompt_mask, completion, commit_step, num_steps, texts

    @torch.no_grad()
    def make_rollout(self, index: int) -> Rollout:
        cfg, ids = self.cfg, self.lm.ids
        G = cfg.num_generations
        docs = [d for d in self.task.docs(cfg.seed, index, cfg.batch_size // G) for _ in range(G)]
        device = self.acc.device
        seeds = [(cfg.seed * 1_000_003 + index) * 1024 + row for row in range(len(docs))]
        prompt_ids, prompt_mask, completion, commit_step, num_steps, texts = self.generate(docs, seeds)
        plain = self.lm.tokenizer.batch_decode(completion.cpu(), skip_special_tokens=True)  # d1's reward text
        rewards = torch.tensor([sum(as_number(fn(d, p if fn in PLAIN_TEXT else t), name)
                                    for name, fn in self.rewards[d["kind"]])
                                for d, t, p in zip(docs, texts, plain)], dtype=torch.float32, device=device)
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

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out scores (`diagnostics`): greedy, sampled mean and pass@k with the task's exact scorer."""
        cfg, G = self.cfg, self.cfg.num_generations
        docs = self.task.heldout(cfg.seed, cfg.eval_prompts)
        exact = [REWARDS[d["kind"]]["exact"] for d in docs]
        greedy = self.generate(docs, [0] * len(docs), self.spec.with_overrides(temperature=0.0))[-1]
        rows = [d for d in docs for _ in range(G)]
        sampled = self.generate(rows, [(cfg.seed * 1_000_003 - 1) * 1024 + i for i in range(len(rows))])[-1]
        return diagnostics.heldout_scores(
            [bool(f(d, t)) for f, d, t in zip(exact, docs, greedy)],
            [[bool(exact[i](docs[i], sampled[i * G + j])) for j in range(G)] for i in range(len(docs))],
            cfg.pass_k or G)

    def count_zero_spread(self) -> None:
        """Tally the new rollouts' zero-spread groups; warn (once in the run) when none of them can teach."""
        grouped = torch.cat([r.rewards for r in self.buffer]).view(-1, self.cfg.num_generations)
        zero = int((grouped.max(1).values == grouped.min(1).values).sum())
        self.zero_groups = [self.zero_groups[0] + zero, self.zero_groups[1] + len(grouped)]
        if zero == len(grouped) and not self.warned_zero and self.acc.is_main_process:
            self.warned_zero = True
            self.warn(f"step {self.step + 1}: every group's rewards are equal (zero spread), so its advantages are "
                      f"0 and these rollouts teach nothing (warned once; the share is reported at the end)")

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
            self.count_zero_spread()
        self.policy.train()
        totals = {"loss": 0.0, "kl": 0.0, "clip_fraction": 0.0}
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
        stats = {**totals, **diagnostics.group_stats(rewards, cfg.num_generations), "lr": lr}
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
                    "ref_state": self.ref_state, "rng": torch.get_rng_state(), "zero_groups": self.zero_groups,
                    "warned_zero": self.warned_zero}, tmp / "trainer_state.pt")
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
        self.zero_groups, self.warned_zero = state["zero_groups"], state["warned_zero"]

    # ---- the run ----
    def write_eval(self) -> None:
        scores = self.evaluate()
        if self.acc.is_main_process:
            with open(self.out / "eval.tsv", "a") as f:
                f.write("\t".join([str(self.step)] + [f"{scores[k]:.6g}" for k in diagnostics.EVAL_COLUMNS[1:]]) + "\n")

    def run(self, progress: Optional[Callable[[int, dict], None]] = None,
            warn: Optional[Callable[[str], None]] = None) -> Path:
        cfg, out = self.cfg, self.out
        self.warn = warn or self.warn
        log_path, eval_path = out / "log.tsv", out / "eval.tsv"
        if self.resume_from is not None:
            self.load_checkpoint(self.resume_from)
            if self.acc.is_main_process:
                (out / "config.yaml").write_text(cfg.to_yaml())  # the same run, perhaps with more steps
            for path in (log_path, eval_path):  # drop the rows after the checkpoint
                if self.acc.is_main_process and path.is_file():
                    rows = path.read_text().splitlines()
                    path.write_text("\n".join([rows[0]] + [r for r in rows[1:] if int(r.split("\t")[0]) <= self.step]) + "\n")
        else:
            if self.acc.is_main_process:
                out.mkdir(parents=True, exist_ok=True)
                (out / "config.yaml").write_text(cfg.to_yaml())
                log_path.write_text("\t".join(LOG_COLUMNS) + "\n")
                if cfg.eval_every:
                    eval_path.write_text("\t".join(diagnostics.EVAL_COLUMNS) + "\n")
            if cfg.eval_every:
                self.write_eval()  # the starting point
        start = time.time()
        while self.step < cfg.steps:
            stats = self.train_step()
            if self.acc.is_main_process:
                with open(log_path, "a") as log:
                    log.write("\t".join([str(self.step)] + [f"{stats[k]:.6g}" for k in LOG_COLUMNS[1:-1]]
                                        + [f"{time.time() - start:.1f}"]) + "\n")
            if cfg.eval_every and (self.step % cfg.eval_every == 0 or self.step == cfg.steps):
                self.write_eval()
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
            diagnostics.plot_curves(out)
            zero, total = self.zero_groups
            if zero:
                self.warn(f"{zero} of {total} rollout groups ({zero / total:.0%}) had zero reward spread and taught "
                          f"nothing (log.tsv: zero_spread)")
        self.acc.wait_for_everyone()
        return out / "adapter"


def train(cfg: GRPOConfig, out: str | os.PathLike, *, peft: str | None = None, resume: bool = False,
          progress: Optional[Callable[[int, dict], None]] = None, accelerator=None,
          warn: Optional[Callable[[str], None]] = None) -> Path:
    """Run one GRPO training; returns the final adapter folder. Bad input raises UsageError before training.

    With `resume`, the hyperparameters are those saved in `out/config.yaml`."""
    out = Path(out)
    if resume and (out / "config.yaml").is_file():
        from mdlm_eval.training.config import load_config

        cfg = load_config(out / "config.yaml", steps=cfg.steps)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return GRPOTrainer(cfg, out, peft=peft, resume=resume, accelerator=accelerator).run(progress, warn)
    finally:
        torch.set_num_threads(threads)
