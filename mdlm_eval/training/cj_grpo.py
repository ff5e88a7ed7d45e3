"""CJ-GRPO (arXiv 2509.23924, "Consistency Trajectory GRPO"; EOSER-ASS-RL `cj_grpo_trainer_eoser_ass.py`).

For every decoding step s of a rollout: one forward on the state x_s, the log-probability of exactly the tokens
committed at s (under the plain model logits, no Gumbel noise), the PPO-clipped and k3-KL token loss of
`objectives.grpo_token_loss`, averaged over the tokens committed at s (summed over the micro-batch, / their
count), then over the S steps (/ S):  L = sum_s (1/S) sum_{(b,j): commit(b,j)=s} l_bj / |{commit = s}|.
The states are rebuilt from the trace (`rollout.state_at`) and each step's term is back-propagated at once,
so activation memory is one forward's whatever S is. Steps that commit nothing add nothing (the reference
divides by zero there).
"""
from __future__ import annotations

import torch

from mdlm_eval.training.objectives import grpo_token_loss, token_logps
from mdlm_eval.training.rollout import Rollout, state_at


def step_logps(model, r: Rollout, s: int, mask_id: int) -> torch.Tensor:
    """[B, L]: log p(final token | x_s) at every generated position (one forward on x_s)."""
    x = state_at(r.prompt_ids, r.completion, r.commit_step, s, mask_id)
    logits = model(x, attention_mask=r.attention_mask).logits[:, r.prompt_ids.shape[1]:]
    return token_logps(logits, r.completion)


@torch.no_grad()
def committed_logps(model, r: Rollout, mask_id: int) -> torch.Tensor:
    """[B, L]: each generated token's log-probability at the step that committed it (old / reference)."""
    out = torch.zeros(r.completion.shape, dtype=torch.float32, device=r.completion.device)
    for s in range(r.num_steps):
        committed = r.commit_step == s
        if committed.any():
            out = torch.where(committed, step_logps(model, r, s, mask_id), out)
    return out


def cj_grpo_loss(model, r: Rollout, mask_id: int, *, epsilon: float, beta: float, scale: float = 1.0,
                 backward: bool = True) -> dict[str, float]:
    """The CJ-GRPO loss of one rollout; with `backward`, (scale * each step's term).backward() as it goes.

    `r.old_logps` None means one inner iteration (ratio 1: old = the current log-probs, detached).
    Returns the loss, mean KL and clip fraction (each averaged like the loss)."""
    S = r.num_steps
    stats = {"loss": 0.0, "kl": 0.0, "clip_fraction": 0.0}
    for s in range(S):
        committed = r.commit_step == s
        n = committed.sum()
        if n == 0:
            continue
        logp = step_logps(model, r, s, mask_id)
        old = r.old_logps if r.old_logps is not None else logp.detach()
        ref = r.ref_logps if r.ref_logps is not None else logp.detach()
        token_loss, kl, clipped = grpo_token_loss(logp, old, ref, r.advantages, epsilon, beta)
        w = committed.float() / n / S
        loss = (token_loss * w).sum()
        if backward and loss.requires_grad:
            (loss * scale).backward()
        stats["loss"] += loss.item()
        stats["kl"] += (kl.detach() * w).sum().item()
        stats["clip_fraction"] += (clipped.float() * w).sum().item()
    return stats
