"""Rollouts: `num_generations` samples per prompt from an ordinary `decode` call with a trace, and the
intermediate states of each sample rebuilt from that trace.

`decode(..., trace=True)` returns `trace.step[b, j]`, the step at which generated position j was committed.
The state before step s is the prompt followed by the final tokens of the positions committed before s and
the mask everywhere else, so no state has to be stored (memory O(B L) instead of O(S B L)).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from mdlm_eval.decoding import decode


@dataclass
class Rollout:
    """One micro-batch of samples: rows come in groups of `num_generations` for the same prompt."""

    prompt_ids: torch.Tensor  # [B, P], left-padded
    prompt_mask: torch.Tensor  # [B, P] attention mask of the prompt
    completion: torch.Tensor  # [B, L] the generated tokens
    commit_step: torch.Tensor  # [B, L] step at which each generated position was committed
    num_steps: int
    rewards: torch.Tensor  # [B]
    advantages: torch.Tensor  # [B]
    texts: list[str] = field(default_factory=list)
    old_logps: torch.Tensor | None = None  # CJ: [B, L]; diffu: [I, B, L]
    ref_logps: torch.Tensor | None = None  # as old_logps
    mask_seeds: list[int] = field(default_factory=list)  # diffu-GRPO: one per inner iteration

    @property
    def attention_mask(self) -> torch.Tensor:
        """Attention mask of prompt + completion (the completion is always attended to, as in decoding)."""
        return torch.cat([self.prompt_mask, torch.ones_like(self.completion)], dim=1)

    @property
    def sequences(self) -> torch.Tensor:
        return torch.cat([self.prompt_ids, self.completion], dim=1)


def state_at(prompt_ids: torch.Tensor, completion: torch.Tensor, commit_step: torch.Tensor, s: int,
             mask_id: int) -> torch.Tensor:
    """x_s, the canvas the decoder fed to the model at step s: tokens committed before s, masks elsewhere."""
    canvas = torch.where(commit_step < s, completion, torch.full_like(completion, mask_id))
    return torch.cat([prompt_ids, canvas], dim=1)


def sample(model, prompt_ids, prompt_mask, decoder, *, gen_length: int, steps, mask_id: int, eos_token_ids,
           seeds: list[int], noise_dtype: torch.dtype = torch.float64, **overrides):
    """Decode with a trace (Gumbel noise in `noise_dtype`); returns (completion [B, L], commit_step [B, L],
    number of steps)."""
    out = decode(model, prompt_ids, decoder, gen_length=gen_length, steps=steps, mask_id=mask_id,
                 eos_token_ids=eos_token_ids, attention_mask=prompt_mask, seeds=seeds, trace=True,
                 noise_dtype=noise_dtype, **overrides)
    return out.sequences[:, prompt_ids.shape[1]:], out.trace.step, out.trace.num_steps
