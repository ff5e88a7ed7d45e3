"""The training objectives of masked diffusion LMs, shared by SFT and the two GRPO trainers.

- `sft_loss`: LLaDA's SFT loss (GUIDELINES.md "SFT"): t ~ U(0, 1], p = (1 - eps) t + eps, every answer token
  masked with probability p, loss = sum over masked tokens of CE / p, / answer length, averaged over the batch.
- `bd_sft_loss`: the block-diffusion SFT loss (BD3-LM, arXiv 2503.09573, Sec. 3; SDAR's training): every block
  of the answer noised with its own t, p = (1 - eps) t + eps; one forward over [x_t ; x_0] (2L tokens, both
  halves at the same positions) where a noisy block attends itself and the clean earlier blocks and the clean
  half is block-causal; loss = sum over masked x_t tokens of CE / p, / answer length, averaged over the batch.
- `token_logps`: log p(target | state) at every position, from one forward pass.
- `grpo_token_loss`: the PPO-clipped policy term and the k3 KL term per token (TRL GRPOTrainer as d1 and
  CJ-GRPO use it): ratio = exp(logp - old), loss = -min(ratio A, clip(ratio, 1 - eps, 1 + eps) A)
  + beta (exp(ref - logp) - (ref - logp) - 1). Its clip flag marks the tokens where clipping changes the loss
  (clipped term < unclipped term, so the min takes the clipped one and the token's gradient is 0); TRL's
  `is_clipped` (unclipped < clipped) marks the tokens where the min takes the unclipped term, which it cannot.
- `group_advantages`: reward minus the mean of its group (the reference code), optionally / the group std
  (the paper's formula).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mdlm_eval.models.block_causal import real_positions


def mask_answer(input_ids: torch.Tensor, prompt_mask: torch.Tensor, eps: float, gen: torch.Generator):
    """LLaDA forward process on the answer: (masked positions, p per position), t ~ U(0,1] per row."""
    b, l = input_ids.shape
    t = torch.rand(b, generator=gen)
    p_mask = ((1 - eps) * t + eps)[:, None].expand(b, l)
    masked = (torch.rand((b, l), generator=gen) < p_mask) & ~prompt_mask
    return masked, p_mask


def masked_ce_over_p(logits, targets, masked, p_mask):
    """CE / p at the masked positions (a flat [n] tensor): the importance-weighted term of the masked diffusion
    ELBO, shared by the SFT loss and the Monte Carlo log-likelihood (LLaDA eval_llada.py)."""
    return F.cross_entropy(logits[masked], targets[masked], reduction="none") / p_mask[masked]


def sft_loss(model, input_ids, attention_mask, prompt_mask, mask_id: int, eps: float, gen: torch.Generator):
    """LLaDA SFT loss: mask answer tokens with p = (1-eps) t + eps, CE / p on masked tokens / answer length."""
    b, l = input_ids.shape
    masked, p_mask = mask_answer(input_ids, prompt_mask, eps, gen)
    noisy = torch.where(masked, torch.full_like(input_ids, mask_id), input_ids)
    logits = model(noisy, attention_mask=attention_mask).logits
    answer_len = (~prompt_mask).sum(-1, keepdim=True).expand(b, l)
    token_loss = masked_ce_over_p(logits, input_ids, masked, p_mask)
    return (token_loss / answer_len[masked]).sum() / b


def bd_attention(attention_mask: torch.Tensor, block_length: int):
    """([b, 1, 2L, 2L] bool mask, [b, 2L] positions) of BD3-LM's vectorised [x_t ; x_0] forward.

    Blocks by real position (mdlm_eval/models/block_causal.py). Query x_t[i] sees x_t[j] of its own block and
    x_0[j] of earlier blocks; query x_0[i] sees x_0[j] of its own and earlier blocks (block-causal); never padding.
    """
    b, l = attention_mask.shape
    pos = real_positions(attention_mask, l, b, attention_mask.device)
    blk = torch.div(pos, block_length, rounding_mode="floor")
    real = attention_mask.bool()[:, None, :]
    same = (blk[:, :, None] == blk[:, None, :]) & real
    earlier = (blk[:, None, :] < blk[:, :, None]) & real
    mask = torch.cat([torch.cat([same, earlier], 2),
                      torch.cat([torch.zeros_like(same), same | earlier], 2)], 1)
    mask = mask | ~mask.any(-1, keepdim=True)  # a query with no real key (padding): no NaN
    return mask[:, None], torch.cat([pos, pos], 1)


def mask_blocks(input_ids, attention_mask, prompt_mask, block_length: int, eps: float, gen: torch.Generator):
    """Forward process per block: (masked positions, p per position), t ~ U(0,1] per (row, block); prompt kept."""
    b, l = input_ids.shape
    pos = real_positions(attention_mask, l, b, input_ids.device)
    blk = torch.div(pos, block_length, rounding_mode="floor")
    t = torch.rand((b, int(blk.max()) + 1), generator=gen)
    p_mask = ((1 - eps) * t + eps).gather(1, blk)
    masked = (torch.rand((b, l), generator=gen) < p_mask) & ~prompt_mask & attention_mask.bool()
    return masked, p_mask


def bd_sft_loss(model, input_ids, attention_mask, prompt_mask, mask_id: int, eps: float, gen: torch.Generator,
                block_length: int):
    """Block-diffusion SFT loss (module docstring): CE / p on masked x_t tokens / answer length, per batch row."""
    b, l = input_ids.shape
    masked, p_mask = mask_blocks(input_ids, attention_mask, prompt_mask, block_length, eps, gen)
    noisy = torch.where(masked, torch.full_like(input_ids, mask_id), input_ids)
    mask, positions = bd_attention(attention_mask, block_length)
    logits = model(torch.cat([noisy, input_ids], 1), attention_mask=mask, position_ids=positions).logits[:, :l]
    answer_len = (~prompt_mask).sum(-1, keepdim=True).expand(b, l)
    token_loss = masked_ce_over_p(logits, input_ids, masked, p_mask)
    return (token_loss / answer_len[masked]).sum() / b


def token_logps(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[target] per position, in float32 ([batch, len, vocab], [batch, len] -> [batch, len])."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def grpo_token_loss(logp, old_logp, ref_logp, advantages, epsilon: float, beta: float):
    """(per-token loss, per-token k3 KL, per-token flag: clipping changes the loss); advantages per row [batch]."""
    ratio = torch.exp(logp - old_logp)
    adv = advantages.unsqueeze(1)
    unclipped, clipped = ratio * adv, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * adv
    loss = -torch.min(unclipped, clipped)
    kl = torch.zeros_like(logp)
    if beta != 0:
        delta = ref_logp - logp
        kl = torch.exp(delta) - delta - 1
        loss = loss + beta * kl
    return loss, kl, (clipped < unclipped)


def group_advantages(rewards: torch.Tensor, num_generations: int, scale_by_std: bool = False) -> torch.Tensor:
    """Reward minus its group's mean (rows come in groups of `num_generations` consecutive samples);
    with `scale_by_std`, divided by the group's (unbiased) std + 1e-4, as TRL's GRPO does when it scales."""
    grouped = rewards.view(-1, num_generations)
    adv = grouped - grouped.mean(dim=1, keepdim=True)
    if scale_by_std:
        adv = adv / (grouped.std(dim=1, keepdim=True) + 1e-4)
    return adv.reshape(-1)
