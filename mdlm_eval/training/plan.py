"""`mdlm-eval train METHOD --config X --dry-run`: the run's effective batch, its steps and its expected memory per
process, from the model's config.json alone (no weights are read).

Memory per process = the base weights (parameters x the run's dtype: `dtype`, else bfloat16 as on a GPU; the toy
float32) +
the LoRA weights, gradients and AdamW moments (float32, 16 bytes a parameter, as peft keeps adapters of a 16-bit
base) + the activations one loss forward keeps for backward. The activations are counted exactly, not estimated:
the model is built on PyTorch's meta device (shapes, no storage), LoRA-wrapped as the trainer wraps it, and one
forward of `batch_size` rows of `PROMPT_TOKENS` + `gen_length` tokens runs under the bench's saved-tensor counter
(`bench.SavedBytes`, which also counts each checkpointed block's kept input), plus the float32 log-softmax of the
completion's logits. With activation checkpointing, one block's activations are added for its recomputation in
backward. CJ-GRPO here back-propagates each step at once (one forward's activations whatever S); the reference
keeps all S forwards for one backward, shown for comparison. Rollout decoding (no gradients) is not counted.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from mdlm_eval.errors import UsageError
from mdlm_eval.training.config import LLADA_TARGETS, TOY_TARGETS, GRPOConfig

PROMPT_TOKENS = 200  # d1's and EOSER-ASS-RL's max_prompt_length
GB = 2**30


def meta_model(name: str, dtype: torch.dtype):
    """The base model on the meta device, from config.json only; (model, is the toy)."""
    from transformers import AutoConfig, AutoModel
    from transformers.utils import cached_file

    from mdlm_eval.models.loading import TRUSTED_HUB_IDS, native_classes, native_kind, resolve_pretrained

    source, local = resolve_pretrained(name)
    try:
        found = Path(source) / "config.json" if local else Path(cached_file(source, "config.json"))
    except (OSError, ValueError):
        found = None
    if found is None or not found.is_file():
        raise UsageError(f"--dry-run needs model {name}'s config.json, which is not here (give a model folder, or "
                         f"fetch the hub id's config.json once)")
    with torch.device("meta"):
        if kind := native_kind(source, local):
            config_class, model_class = native_classes(kind)
            model = model_class(config_class.from_pretrained(source))
        else:
            trust = local or bool(TRUSTED_HUB_IDS.match(source))
            model = AutoModel.from_config(AutoConfig.from_pretrained(source, trust_remote_code=trust),
                                          trust_remote_code=trust)
    return model.to(dtype), getattr(model.config, "model_type", "") == "mdlm_toy"


def forward_bytes(model, rows: int, prompt: int, gen: int, checkpointing: bool) -> int:
    """Bytes one training forward keeps for backward (meta tensors: counted, never allocated)."""
    from mdlm_eval.training.bench import SavedBytes

    x = torch.zeros(rows, prompt + gen, dtype=torch.long, device="meta")
    counter = SavedBytes()
    model.train()
    with counter.watch(model):
        logits = model(x).logits[:, prompt:]
        torch.log_softmax(logits.float(), dim=-1)  # the float32 log-probs of the loss (token_logps)
    return counter.peak


def plan(cfg: GRPOConfig, processes: int = 1) -> list[str]:
    """The dry run's lines: batch, steps, memory."""
    from peft import LoraConfig, get_peft_model

    if processes < 1:
        raise UsageError(f"--processes must be >= 1, got {processes}")
    from mdlm_eval.models.loading import DTYPES
    from mdlm_eval.training.trainer import check_config

    task, _, spec = check_config(cfg)
    dtype = DTYPES[cfg.dtype] if cfg.dtype else torch.float32 if cfg.model == "toy" else torch.bfloat16
    base, toy = meta_model(cfg.model, dtype)
    gen = cfg.gen_length or getattr(base.config, "gen_length", None) or 256
    S = spec.resolve_steps(gen)
    weights = sum(p.numel() * p.element_size() for p in base.parameters())
    targets = cfg.lora_targets or (TOY_TARGETS if toy else LLADA_TARGETS)
    if cfg.gradient_checkpointing:
        from mdlm_eval.training.trainer import enable_checkpointing

        enable_checkpointing(base, cfg.model)
    model = get_peft_model(base, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                            target_modules=targets))
    lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    acts = forward_bytes(model, cfg.batch_size, PROMPT_TOKENS, gen, cfg.gradient_checkpointing)
    layers = [m for m in base.modules() if hasattr(m, "gradient_checkpointing")]
    recompute = 0
    if cfg.gradient_checkpointing and layers:
        for m in layers:
            m.gradient_checkpointing = False
        recompute = forward_bytes(model, cfg.batch_size, PROMPT_TOKENS, gen, False) // len(layers)
    iterations = cfg.num_iterations or task.num_iterations
    G = cfg.num_generations
    prompts = cfg.batch_size // G * cfg.grad_accum * processes
    rounds = math.ceil(cfg.steps / iterations)
    one = weights + 16 * lora + acts + recompute
    lines = [
        f"model {cfg.model}: {sum(p.numel() for p in base.parameters()) / 1e9:.3g}B parameters ({dtype}), "
        f"LoRA r {cfg.lora_r}: {lora / 1e6:.3g}M trainable",
        f"global batch per optimizer step: {prompts} prompts x {G} generations = {prompts * G} samples "
        f"({cfg.batch_size} per micro-batch x {cfg.grad_accum} accumulation x {processes} processes)",
        f"steps: {cfg.steps} optimizer steps, {iterations} inner updates per rollout: {rounds} rollout rounds, "
        f"{rounds * prompts} prompts, {rounds * prompts * G} rollouts of {gen} tokens at {S} decoding steps",
        f"expected memory per process: {one / GB:.3g} GiB = weights {weights / GB:.3g} + LoRA with gradients and "
        f"AdamW {16 * lora / GB:.3g} + activations {(acts + recompute) / GB:.3g} (one forward of {cfg.batch_size} x "
        f"{PROMPT_TOKENS} + {gen} tokens, checkpointing {'on' if cfg.gradient_checkpointing else 'off'})",
    ]
    if cfg.method == "cj-grpo" and S:
        lines.append(f"  (one backward over all {S} steps, the reference's way, would keep {S} forwards: "
                     f"{(weights + 16 * lora + S * acts + recompute) / GB:.3g} GiB)")
    return lines
