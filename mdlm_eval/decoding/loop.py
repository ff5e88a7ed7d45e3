"""The one denoising loop. Every decoder is this loop with other parts plugged in (see `DecoderSpec`).

Each step: (1) forward, (2) choose x0 = argmax of the (Gumbel-noised) logits, (3) rank the masked positions
of the current block, (4) let the EOS policy adjust the ranking, (5) commit the k best. Only the masked
positions of the current block (the candidates) are touched after the forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from mdlm_eval.decoding.eos import make_eos_policy
from mdlm_eval.decoding.noise import RowNoise
from mdlm_eval.decoding.ranking import RANKINGS
from mdlm_eval.decoding.schedule import Step, ascending_plan, uniform_plan
from mdlm_eval.decoding.spec import DecoderSpec, load_spec
from mdlm_eval.errors import UsageError


@dataclass
class Trace:
    """When each generated position was unmasked (step index) and its ranking score at that step."""

    step: torch.Tensor  # [batch, gen_length] long
    score: torch.Tensor  # [batch, gen_length] float
    num_steps: int

    def early_eos_share(self, tokens: torch.Tensor, eos_ids: Sequence[int], fraction: float = 0.25) -> torch.Tensor:
        """Per row, the share of EOS among tokens unmasked in the first `fraction` of the steps.

        `tokens` are the generated tokens [batch, gen_length]. The EOS-trap statistic of arXiv 2509.23924.
        """
        early = self.step < max(1, round(self.num_steps * fraction))
        eos = torch.isin(tokens, torch.tensor(list(eos_ids), device=tokens.device))
        return (early & eos).sum(1) / early.sum(1).clamp(min=1)


@dataclass
class DecodeOutput:
    sequences: torch.Tensor  # [batch, prompt_len + gen_length], prompt included
    nfe: int  # forward passes made
    trace: Trace | None = None


def make_plan(spec: DecoderSpec, gen_length: int) -> list[Step]:
    """The steps of one decode; raises UsageError for budgets the layout cannot take."""
    if gen_length < 1:
        raise UsageError(f"gen_length must be >= 1, got {gen_length}")
    steps = spec.resolve_steps(gen_length)
    if spec.schedule == "ascending":
        return ascending_plan(gen_length, steps, spec.block_num)
    return uniform_plan(gen_length, steps, spec.block_length or gen_length)


def choose_tokens(logits: torch.Tensor, temperature: float, uniform: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """x0 = argmax(exp(l) / (-log u)^T) with u ~ U(0,1) in float64 (LLaDA `add_gumbel_noise`); T = 0: argmax(l)."""
    if temperature == 0:
        return logits.argmax(-1)
    noise = (-torch.log(uniform(logits.shape[-1]))) ** temperature
    return (logits.to(torch.float64).exp() / noise).argmax(-1)


def vocab_size(model: torch.nn.Module) -> int | None:
    config = getattr(model, "config", None)
    return getattr(config, "vocab_size", None)


def check_inputs(model, input_ids, attention_mask, mask_id: int, eos_ids: Sequence[int]) -> None:
    if input_ids.dim() != 2 or input_ids.dtype != torch.long:
        raise UsageError(f"input_ids must be a 2-D LongTensor [batch, prompt_len], got {tuple(input_ids.shape)}")
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise UsageError(f"attention_mask shape {tuple(attention_mask.shape)} differs from input_ids {tuple(input_ids.shape)}")
    vocab = vocab_size(model)
    for name, ids in (("mask_id", [mask_id]), ("eos_token_ids", list(eos_ids))):
        if vocab is not None and any(not 0 <= i < vocab for i in ids):
            raise UsageError(f"{name} {ids} is outside the model's vocabulary of {vocab} tokens")
    if (input_ids == mask_id).any():
        raise UsageError(f"the prompt already contains the mask token {mask_id}; masks belong to the canvas only")


@torch.no_grad()
def decode(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    decoder: "str | DecoderSpec" = "eoser_ass",
    *,
    gen_length: int = 256,
    steps: int | str | None = None,
    mask_id: int = 126336,
    eos_token_ids: Sequence[int] = (126081,),
    attention_mask: torch.Tensor | None = None,
    seeds: Sequence[int] | None = None,
    trace: bool = False,
    **overrides: Any,
) -> DecodeOutput:
    """Generate `gen_length` tokens after each prompt row by iterative unmasking.

    `decoder` is a preset name (`decoders/<name>.yaml`), a YAML path or a `DecoderSpec`; `steps` and the
    overrides (block_length, block_num, temperature, cfg_scale, remasking, eos_policy, eos_min_gamma, ...)
    replace its fields. `seeds` (one per row, default 0) seed each row's noise for sampling and random
    ranking, so a row draws the same noise alone or in any batch.
    """
    spec = load_spec(decoder).with_overrides(steps=steps, **overrides)
    plan = make_plan(spec, gen_length)
    eos_ids = list(eos_token_ids)
    if spec.eos_policy != "none" and not eos_ids:
        raise UsageError(f"eos_policy {spec.eos_policy} needs at least one id in eos_token_ids")
    check_inputs(model, input_ids, attention_mask, mask_id, eos_ids)

    batch, prompt_len = input_ids.shape
    device = input_ids.device
    x = torch.cat([input_ids, input_ids.new_full((batch, gen_length), mask_id)], dim=1)
    if attention_mask is not None:
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((batch, gen_length))], dim=1)
    is_prompt = x != mask_id  # CFG's unconditional copy masks these (padding included, as LLaDA does)
    ranking = RANKINGS[spec.remasking]()
    eos = make_eos_policy(spec.eos_policy, eos_ids, spec.gamma_schedule, spec.eos_min_gamma, spec.eos_max_gamma)
    noise = RowNoise(seeds if seeds is not None else [0] * batch, device) if (
        spec.temperature > 0 or ranking.needs_noise
    ) else None
    if noise is not None and len(noise.generators) != batch:
        raise UsageError(f"seeds has {len(noise.generators)} entries for a batch of {batch}")
    unmasked_at = torch.full((batch, gen_length), -1, dtype=torch.long, device=device) if trace else None
    unmasked_score = torch.full((batch, gen_length), torch.nan, device=device) if trace else None

    nfe = 0
    for step in plan:
        # (1) forward; CFG: one batched call on [x; x with the prompt masked], blended at the candidates
        if spec.cfg_scale > 0:
            uncond = x.masked_fill(is_prompt, mask_id)
            both_mask = None if attention_mask is None else torch.cat([attention_mask, attention_mask])
            cond_logits, uncond_logits = model(torch.cat([x, uncond]), attention_mask=both_mask).logits.chunk(2)
        else:
            cond_logits = model(x, attention_mask=attention_mask).logits
        nfe += 1
        candidates = x == mask_id
        candidates[:, prompt_len + step.end :] = False
        rows, cols = candidates.nonzero(as_tuple=True)  # row-major, the order of boolean indexing
        logits = cond_logits[candidates]  # [N, V], a copy (boolean indexing: far faster than by (rows, cols))
        if spec.cfg_scale > 0:
            un = uncond_logits[candidates]
            logits = un + (spec.cfg_scale + 1) * (logits - un)

        # (2) choose, (3) rank, (4) EOS policy
        logits = eos.ban(logits)
        x0 = choose_tokens(logits, spec.temperature, lambda width: noise.uniform(rows, width, torch.float64))
        score = ranking(eos.rank_logits(logits), x0, lambda: noise.uniform(rows, 1, torch.float64).squeeze(1))
        score = eos.adjust(score, x0, step, len(plan))

        # (5) commit the k best candidates of each row; ties go to the leftmost position
        ranked = torch.full(x.shape, -torch.inf, dtype=score.dtype, device=device)
        ranked[rows, cols] = score
        chosen = ranked.sort(dim=1, descending=True, stable=True).indices[:, : step.k]
        proposal = torch.empty_like(x)
        proposal[rows, cols] = x0
        x.scatter_(1, chosen, proposal.gather(1, chosen))
        if trace:
            unmasked_at.scatter_(1, chosen - prompt_len, step.index)
            unmasked_score.scatter_(1, chosen - prompt_len, ranked.gather(1, chosen).to(unmasked_score.dtype))

    run_trace = Trace(unmasked_at, unmasked_score, len(plan)) if trace else None
    return DecodeOutput(sequences=x, nfe=nfe, trace=run_trace)
