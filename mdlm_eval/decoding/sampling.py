"""How x0 is drawn at the candidates, and which logits the ranking scores: the decoder's `sampler`.

llada  x0 = argmax(exp(l) / (-log u)^T), u ~ U(0, 1) in float64 (LLaDA `add_gumbel_noise`, a draw from
       softmax(l / T)); T = 0: argmax(l). `top_p` / `top_k` restrict the draw to the tokens Dream's truncation
       keeps from l / T (at T = 0 they change nothing). The ranking sees the untempered, untruncated logits.
dream  Dream's `sample_tokens` (DreamLM/Dream generation_utils.py): l' = top_k(top_p(l / T)) (l' = top_k(top_p(l))
       at T = 0), p = softmax(l'); x0 ~ Categorical(p) at T > 0, argmax(p) at T = 0; the ranking scores l', so
       Dream's confidence comes from the tempered, truncated p (maskgit_plus p(x0), topk_margin p1 - p2, entropy
       sum p log p). At T = 0 top_p / top_k leave x0 alone but renormalise p, and so the confidence.

Each row draws from its own seeded stream (`RowNoise`), so a row samples alone as in any batch.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

def truncate(logits: torch.Tensor, top_p: float | None, top_k: int | None) -> torch.Tensor:
    """Dream `top_p_logits` then `top_k_logits`: removed logits become the dtype's lowest value.

    top_p: sort descending, keep while the cumulative softmax is <= p, the first token always (Dream shifts the
    removal mask right by one); p >= 1 is off. top_k: keep the logits >= the k-th largest.
    """
    lowest = torch.finfo(logits.dtype).min
    if top_p is not None and top_p < 1:
        ranked, order = torch.sort(logits, descending=True)
        drop = torch.cumsum(F.softmax(ranked, dim=-1), dim=-1) > top_p
        drop[..., 1:] = drop[..., :-1].clone()
        drop[..., 0] = False
        logits = logits.masked_fill(torch.zeros_like(drop).scatter_(-1, order, drop), lowest)
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]))[0][..., -1, None]
        logits = logits.masked_fill(logits < kth, lowest)
    return logits


class Sampler:
    """`choose(logits, ...)` gives x0 for every candidate; `rank_logits(logits)` what the ranking scores."""

    def __init__(self, temperature: float, top_p: float | None, top_k: int | None,
                 noise_dtype: torch.dtype = torch.float64):
        self.temperature, self.top_p, self.top_k, self.noise_dtype = temperature, top_p, top_k, noise_dtype

    def rank_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return logits

    def choose(self, logits: torch.Tensor, uniform: Callable[[int], torch.Tensor], rows: list[int],
               counts: list[int], generators: list[torch.Generator] | None,
               only: torch.Tensor | None = None) -> torch.Tensor:
        """x0 [N] for the candidates' logits [N, V] (row-major: counts[i] candidates of batch row rows[i]).
        `only` [N] bool: the candidates whose x0 can be committed; the others need not be drawn."""
        raise NotImplementedError


class GumbelSampler(Sampler):
    def choose(self, logits, uniform, rows, counts, generators, only=None):
        if self.temperature == 0:
            return logits.max(-1).indices  # argmax, the first maximum on ties (faster than argmax on CPUs)
        if self.top_p is not None or self.top_k is not None:
            lowest = torch.finfo(logits.dtype).min
            logits = logits.masked_fill(truncate(logits / self.temperature, self.top_p, self.top_k) == lowest,
                                        -torch.inf)
        # LLaDA `add_gumbel_noise`: float64 in generate.py; the RL trainers draw in the model's dtype
        noise = (-torch.log(uniform(logits.shape[-1], self.noise_dtype))) ** self.temperature
        return (logits.to(self.noise_dtype).exp() / noise).max(-1).indices


class DreamSampler(Sampler):
    last: tuple[torch.Tensor, torch.Tensor] | None = None  # (logits, l'): l' is made once per step

    def rank_logits(self, logits):
        if self.last is not None and self.last[0] is logits:
            return self.last[1]
        tempered = logits / self.temperature if self.temperature > 0 else logits
        self.last = (logits, truncate(tempered, self.top_p, self.top_k))
        return self.last[1]

    def choose(self, logits, uniform, rows, counts, generators, only=None):
        probs = torch.softmax(self.rank_logits(logits), dim=-1)
        x0 = probs.max(dim=-1).indices
        if self.temperature == 0:
            return x0
        start = 0
        for row, n in zip(rows, counts):
            drawn = torch.arange(start, start + n, device=logits.device)
            start += n
            if only is not None:
                drawn = drawn[only[drawn]]
            if not len(drawn):
                continue
            try:  # Dream: a distribution that fails validation falls back to the argmax
                dist = torch.distributions.Categorical(probs=probs[drawn])
            except ValueError:
                continue
            x0[drawn] = torch.multinomial(dist.probs, 1, True, generator=generators[row])[:, 0]  # Categorical.sample
        return x0


def make_sampler(name: str, temperature: float, top_p: float | None, top_k: int | None,
                 noise_dtype: torch.dtype = torch.float64) -> Sampler:
    """`noise_dtype`: the dtype of the llada sampler's Gumbel noise (the dream sampler draws with multinomial)."""
    return {"llada": GumbelSampler, "dream": DreamSampler}[name](temperature, top_p, top_k, noise_dtype)
