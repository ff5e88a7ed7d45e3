"""EOS policies: how a decoder keeps end-of-sequence tokens from filling the canvas too early.

A policy has three hooks, applied in the loop's order:
  ban(logits)            before x0 is chosen   (logits_eos_inf)
  rank_logits(logits)    logits the ranking sees (confidence_eos_eot_inf)
  adjust(score, x0, ...) after ranking          (eoser)

EOSER's gamma(s) follows the commit rule's clock (`CommitRule.eos_clock`): the reference's step index and
total for the count rule; for adaptive rules each row's forward passes so far over the `steps` cap
(gen_length when uncapped). EOSER-ASS-RL scales EOS only in its `low_confidence` branch, so under the
`random` ranking eoser leaves the scores alone, as the reference does.
"""
from __future__ import annotations

import torch


def linear_gamma(local: int, total: int, lo: float, hi: float) -> float:
    """EOSER linear schedule (`eoser_generate`): lo + (hi - lo) * s / (S - 1), s clamped to [0, S-1]."""
    if total <= 1:
        return hi
    t = min(max(local, 0), total - 1) / (total - 1)
    return lo + (hi - lo) * t


def power_gamma(local: int, total: int, lo: float, hi: float) -> float:
    """EOSER power-progress schedule (`eoser_ass_generate`): lo + (hi - lo) * (2^(s+1) - 1) / 2^S."""
    if total <= 1:
        return hi
    t = (2 ** (local + 1) - 1) / 2**total
    return lo + (hi - lo) * t


GAMMAS = {"linear": linear_gamma, "power": power_gamma}


class EosPolicy:
    """`none`: EOS is a token like any other."""

    def __init__(self, eos_ids: list[int]):
        self.eos_ids = list(eos_ids)

    def ban(self, logits: torch.Tensor) -> torch.Tensor:
        return logits

    def rank_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return logits

    def adjust(self, score: torch.Tensor, x0: torch.Tensor, local: "int | list[int]", total: int,
               rows: torch.Tensor) -> torch.Tensor:
        """`local`: the step (an int) or each active row's step (a list); `rows`: each candidate's row."""
        return score


class LogitsEosInf(EosPolicy):
    """LLaDA `logits_eos_inf`: the first EOS id can never be chosen (its logit is -inf)."""

    def ban(self, logits):
        logits[:, self.eos_ids[0]] = -torch.inf
        return logits


class ConfidenceEosEotInf(EosPolicy):
    """LLaDA `confidence_eos_eot_inf`: EOS/EOT may be chosen but rank last.

    The ranking sees logits with every EOS id at -inf, so a position whose x0 is EOS scores 0 and the
    other confidences are renormalised without the EOS mass. (At temperature > 0 the reference only
    demotes EOT, because the noised copy is another tensor; here all ids are demoted at any temperature.)
    """

    def rank_logits(self, logits):
        logits = logits.clone()
        logits[:, self.eos_ids] = -torch.inf
        return logits


class Eoser(EosPolicy):
    """EOS Early Rejection (arXiv 2509.23924): score(x0 = EOS) * gamma(step), gamma rising to 1."""

    def __init__(self, eos_ids: list[int], gamma_schedule: str, lo: float, hi: float, device=None):
        super().__init__(eos_ids)
        self.gamma = GAMMAS[gamma_schedule]
        self.lo, self.hi = lo, hi
        self.eos = torch.tensor(self.eos_ids, device=device)  # built once per decode

    def adjust(self, score, x0, local, total, rows):
        if isinstance(local, int):
            gamma = self.gamma(local, total, self.lo, self.hi)
        else:  # per row: clamp to the last step so that gamma stays within [lo, hi]
            per_row = [self.gamma(min(s, total - 1), total, self.lo, self.hi) for s in local]
            gamma = torch.tensor(per_row, dtype=score.dtype, device=score.device)[rows]
        return torch.where(torch.isin(x0, self.eos), score * gamma, score)


def make_eos_policy(name: str, eos_ids: list[int], gamma_schedule: str, lo: float, hi: float,
                    remasking: str = "low_confidence", device=None) -> EosPolicy:
    if name == "eoser":
        if remasking == "random":  # EOSER-ASS-RL scales only in its low_confidence branch
            return EosPolicy(eos_ids)
        return Eoser(eos_ids, gamma_schedule, lo, hi, device)
    return {"none": EosPolicy, "logits_eos_inf": LogitsEosInf, "confidence_eos_eot_inf": ConfidenceEosEotInf}[name](
        eos_ids
    )
