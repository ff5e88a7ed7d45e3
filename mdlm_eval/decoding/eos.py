"""EOS policies: how a decoder keeps end-of-sequence tokens from filling the canvas too early.

A policy has three hooks, applied in the loop's order:
  ban(logits)            before x0 is chosen   (logits_eos_inf)
  rank_logits(logits)    logits the ranking sees (confidence_eos_eot_inf)
  adjust(score, x0, ...) after ranking          (eoser)
"""
from __future__ import annotations

import torch

from mdlm_eval.decoding.schedule import Step


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

    def adjust(self, score: torch.Tensor, x0: torch.Tensor, step: Step, total: int) -> torch.Tensor:
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

    def __init__(self, eos_ids: list[int], gamma_schedule: str, lo: float, hi: float):
        super().__init__(eos_ids)
        self.gamma = GAMMAS[gamma_schedule]
        self.lo, self.hi = lo, hi

    def adjust(self, score, x0, step, total):
        gamma = self.gamma(step.local, total, self.lo, self.hi)
        is_eos = torch.isin(x0, torch.tensor(self.eos_ids, device=x0.device))
        return torch.where(is_eos, score * gamma, score)


def make_eos_policy(name: str, eos_ids: list[int], gamma_schedule: str, lo: float, hi: float) -> EosPolicy:
    if name == "eoser":
        return Eoser(eos_ids, gamma_schedule, lo, hi)
    return {"none": EosPolicy, "logits_eos_inf": LogitsEosInf, "confidence_eos_eot_inf": ConfidenceEosEotInf}[name](
        eos_ids
    )
