"""Which masked position goes first: a score per candidate position, higher is unmasked earlier.

Each ranking is a small class registered by name; `decoders/*.yaml` pick one with `remasking: NAME`.
All take the candidate logits [N, V] (after any EOS policy) and the chosen tokens x0 [N].
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

RANKINGS: dict[str, type["Ranking"]] = {}


def register(name: str) -> Callable[[type["Ranking"]], type["Ranking"]]:
    def add(cls: type["Ranking"]) -> type["Ranking"]:
        RANKINGS[name] = cls
        return cls

    return add


class Ranking:
    needs_noise = False

    def __call__(self, logits: torch.Tensor, x0: torch.Tensor, uniform: Callable[[], torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError


@register("low_confidence")
class LowConfidence(Ranking):
    """p(x0) = softmax(logits)[x0] (LLaDA `low_confidence` remasking)."""

    def __call__(self, logits, x0, uniform):
        return F.softmax(logits, dim=-1).gather(-1, x0.unsqueeze(-1)).squeeze(-1)


@register("random")
class Random(Ranking):
    """U(0, 1) per position (LLaDA `random` remasking), from the row's own generator."""

    needs_noise = True

    def __call__(self, logits, x0, uniform):
        return uniform()


@register("margin")
class Margin(Ranking):
    """p1 - p2, the gap between the two most likely tokens (Dream `topk_margin`)."""

    def __call__(self, logits, x0, uniform):
        top2 = F.softmax(logits, dim=-1).topk(2, dim=-1).values
        return top2[:, 0] - top2[:, 1]


@register("entropy")
class NegativeEntropy(Ranking):
    """-H(p) = sum p log(p + 1e-10), most certain first (Dream `sample_tokens` with `neg_entropy`, its epsilon
    included)."""

    def __call__(self, logits, x0, uniform):
        p = F.softmax(logits, dim=-1)
        return (p * torch.log(p + 1e-10)).sum(-1)
