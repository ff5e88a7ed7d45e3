"""diffu-GRPO (d1, github dllm-reasoning/d1 `diffu-grpo/diffu_grpo_trainer.py`): GRPO with a one-step
log-probability estimate.

The completion is fully masked and every prompt position is masked with probability p = 0.15 (`forward_process`),
a new mask per inner iteration (one seed per iteration, drawn when the rollout is made); one forward gives
log p(token) at every completion position. Loss = the token loss of `objectives.grpo_token_loss`, summed over the
completion up to and including its first EOS, / the number of such tokens (`compute_loss`).
"""
from __future__ import annotations

import torch

from mdlm_eval.training.objectives import grpo_token_loss, token_logps
from mdlm_eval.training.rollout import Rollout


def one_step_state(r: Rollout, mask_id: int, p_mask_prompt: float, seed: int) -> torch.Tensor:
    """Prompt masked with probability p (a uniform draw per position from `seed`), completion all masked."""
    x = r.sequences
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    draw = torch.rand(x.shape, generator=gen).to(x.device)
    is_prompt = torch.zeros_like(x, dtype=torch.bool)
    is_prompt[:, : r.prompt_ids.shape[1]] = True
    is_mask = (is_prompt & (draw < p_mask_prompt)) | ~is_prompt
    return torch.where(is_mask, torch.full_like(x, mask_id), x)


def one_step_logps(model, r: Rollout, mask_id: int, p_mask_prompt: float, seed: int) -> torch.Tensor:
    """[B, L]: log p(completion token | one-step state) at every completion position."""
    x = one_step_state(r, mask_id, p_mask_prompt, seed)
    logits = model(x, attention_mask=r.attention_mask).logits[:, r.prompt_ids.shape[1]:]
    return token_logps(logits, r.completion)


def completion_mask(completion: torch.Tensor, eos_id: int) -> torch.Tensor:
    """1 up to and including the first EOS of each row (all ones without EOS), as d1 masks the loss."""
    is_eos = completion == eos_id
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1), torch.full_like(is_eos[:, 0], completion.shape[1],
                                                                              dtype=torch.long))
    return (torch.arange(completion.shape[1], device=completion.device)[None] <= first[:, None]).float()


@torch.no_grad()
def iteration_logps(model, r: Rollout, mask_id: int, p_mask_prompt: float) -> torch.Tensor:
    """[I, B, L]: the one-step log-probs under each inner iteration's mask (old / reference)."""
    return torch.stack([one_step_logps(model, r, mask_id, p_mask_prompt, s) for s in r.mask_seeds])


def diffu_grpo_loss(model, r: Rollout, mask_id: int, eos_id: int, iteration: int, *, epsilon: float, beta: float,
                    p_mask_prompt: float = 0.15, scale: float = 1.0, backward: bool = True) -> dict[str, float]:
    """The diffu-GRPO loss of one rollout at inner iteration `iteration` (its mask seed)."""
    logp = one_step_logps(model, r, mask_id, p_mask_prompt, r.mask_seeds[iteration])
    old = r.old_logps[iteration] if r.old_logps is not None else logp.detach()
    ref = r.ref_logps[iteration] if r.ref_logps is not None else logp.detach()
    token_loss, kl, clipped = grpo_token_loss(logp, old, ref, r.advantages, epsilon, beta)
    m = completion_mask(r.completion, eos_id)
    loss = (token_loss * m).sum() / m.sum()
    if backward and loss.requires_grad:
        (loss * scale).backward()
    return {"loss": loss.item(), "kl": ((kl * m).sum() / m.sum()).item(),
            "clip_fraction": ((clipped.float() * m).sum() / m.sum()).item()}
