"""The toy MDLM's SFT recipe (LLaDA GUIDELINES.md, "SFT"); the loss is `objectives.sft_loss`.

Sequence = chat-template prompt + answer padded with EOS to `gen_length` (the padding is kept on purpose: it is
what teaches a real MDLM the "EOS trap"). Batches mix the two tasks (a fixed share of Sudoku, the rest
Countdown), drawn fresh every step from seeded generators; prompts are left-padded with EOS under an attention
mask, exactly as at inference. `mdlm-eval toy train` runs it; the defaults rebuild the shipped checkpoint.

`block_length > 0` trains a block-diffusion model instead (`objectives.bd_sft_loss`, blocks of that size; the
config gets `block_causal = True`); `init_from` starts from an existing toy folder's weights (how `toy-bd` was made).
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from mdlm_eval.errors import UsageError
from mdlm_eval.models.toy import data, prompts
from mdlm_eval.models.toy.tokenizer import EOS, build_tokenizer, chat_prompt
from mdlm_eval.models.toy.train import build_model, check_output_dir, save_checkpoint
from mdlm_eval.training.objectives import bd_sft_loss, sft_loss


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as training_args.json beside the checkpoint)."""

    steps: int = 3600
    seed: int = 0
    batch_size: int = 64
    lr: float = 2e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eps: float = 1e-3
    sudoku_fraction: float = 0.25
    sudoku_clues: int = 8
    gen_length: int = 32
    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 4
    num_attention_heads: int = 6
    log_every: int = 10
    threads: int = 2  # CPU threads; the same thread count gives the same weights
    block_length: int = 0  # > 0: block-diffusion SFT with blocks of this size (block-causal model)
    init_from: str = ""  # a toy checkpoint folder to warm-start from ("" = random init)


def sample_batch(tok, cfg: TrainConfig, rng: random.Random, nprng: np.random.Generator):
    """One mixed batch: (input_ids, attention_mask, prompt_mask) as tensors, prompts left-padded with EOS."""
    n_sudoku = round(cfg.batch_size * cfg.sudoku_fraction)
    messages, answers = [], []
    for puzzle, solution in data.generate_sudoku_batch(nprng, n_sudoku, cfg.sudoku_clues):
        messages.append(prompts.sudoku_prompt(puzzle))
        answers.append(prompts.sudoku_answer(solution))
    for _ in range(cfg.batch_size - n_sudoku):
        numbers, target, expr = data.generate_countdown(rng)
        messages.append(prompts.countdown_prompt(numbers, target))
        answers.append(prompts.countdown_answer(expr))
    return encode_pairs(tok, messages, answers, cfg.gen_length)


def encode_pairs(tok, messages: list[str], answers: list[str], gen_length: int):
    """Token tensors for (user message, assistant answer) pairs: prompt left-padded, answer EOS-padded."""
    eos = tok.convert_tokens_to_ids(EOS)
    p_ids = tok([chat_prompt(m) for m in messages], add_special_tokens=False)["input_ids"]
    a_ids = tok(answers, add_special_tokens=False)["input_ids"]
    plen = max(len(p) for p in p_ids)
    rows, masks = [], []
    for p, a in zip(p_ids, a_ids):
        if len(a) > gen_length:
            raise ValueError(f"answer of {len(a)} tokens does not fit gen_length {gen_length}")
        pad = plen - len(p)
        rows.append([eos] * pad + p + a + [eos] * (gen_length - len(a)))
        masks.append([0] * pad + [1] * (len(p) + gen_length))
    input_ids = torch.tensor(rows)
    attention_mask = torch.tensor(masks)
    prompt_mask = torch.zeros_like(input_ids, dtype=torch.bool)
    prompt_mask[:, :plen] = True
    return input_ids, attention_mask, prompt_mask


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to min_lr_ratio * lr."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def train(
    out_dir: str | os.PathLike,
    steps: int = TrainConfig.steps,
    seed: int = TrainConfig.seed,
    progress: Optional[Callable[[int, float], None]] = None,
    **overrides,
) -> Path:
    """Train the toy from scratch and write a complete checkpoint folder to `out_dir`; return its path.

    Deterministic for a given seed and thread count (`threads`, default 2). Writes `loss.tsv` (step, loss, lr,
    seconds) as it goes and `training_args.json`. `progress(step, loss)` is called after every step. Raises
    `UsageError` for an output folder that exists and is not empty or cannot be written, or a non-positive step
    count, before any work.
    """
    if not isinstance(steps, int) or steps <= 0:
        raise UsageError(f"--steps must be a positive integer, got {steps}")
    unknown = set(overrides) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise UsageError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    if not isinstance(overrides.get("block_length", 0), int) or overrides.get("block_length", 0) < 0:
        raise UsageError(f"block_length must be a non-negative integer, got {overrides['block_length']}")
    if overrides.get("init_from") and not (Path(overrides["init_from"]) / "config.json").is_file():
        raise UsageError(f"init_from {overrides['init_from']} is not a toy checkpoint folder (no config.json)")
    out = check_output_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = TrainConfig(steps=steps, seed=seed, **overrides)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)  # a fixed thread count: the same weights on every run
    try:
        return _train(out, cfg, progress)
    finally:
        torch.set_num_threads(threads)


def _train(out: Path, cfg: TrainConfig, progress) -> Path:

    torch.manual_seed(cfg.seed)
    rng, nprng = random.Random(cfg.seed), np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    tok = build_tokenizer()
    if cfg.init_from:  # warm start: the folder's architecture and weights
        from mdlm_eval.models.toy import MdlmToyModel

        model = MdlmToyModel.from_pretrained(cfg.init_from, dtype=torch.float32)
    else:
        model = build_model(tok, cfg)
    if cfg.block_length > 0:
        model.config.block_causal, model.config.trained_block_length = True, cfg.block_length
    model.train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))
    (out / "training_args.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")
    start = time.time()
    window: list[float] = []
    with open(out / "loss.tsv", "w") as log:
        log.write("step\tloss\tlr\tseconds\n")
        for step in range(cfg.steps):
            lr = lr_at(step, cfg)
            for group in opt.param_groups:
                group["lr"] = lr
            batch = sample_batch(tok, cfg, rng, nprng)
            if cfg.block_length > 0:
                loss = bd_sft_loss(model, *batch, mask_id=model.config.mask_token_id, eps=cfg.eps, gen=gen,
                                   block_length=cfg.block_length)
            else:
                loss = sft_loss(model, *batch, mask_id=model.config.mask_token_id, eps=cfg.eps, gen=gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            window.append(loss.item())
            if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
                log.write(f"{step + 1}\t{sum(window) / len(window):.5f}\t{lr:.3e}\t{time.time() - start:.1f}\n")
                log.flush()
                window = []
            if progress is not None:
                progress(step + 1, loss.item())
    model.eval()
    save_checkpoint(model, tok, out, cfg, seconds=time.time() - start)
    return out
