"""A seeded tiny bidirectional mask predictor for exact decoder tests (float64, padding-invariant)."""
from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

VOCAB, MASK, EOS, EOT = 48, 47, 1, 2


class TinyMDLM(nn.Module):
    """One bidirectional attention layer; positions counted from the first attended token.

    `eos_bias` rises with position, so the right end of the canvas prefers EOS as LLaDA's does.
    """

    def __init__(self, seed: int = 0, dim: int = 24, max_len: int = 256, eos_bias: float = 0.0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.config = SimpleNamespace(vocab_size=VOCAB)
        self.embed = nn.Parameter(torch.randn(VOCAB, dim, generator=g, dtype=torch.float64))
        self.pos = nn.Parameter(torch.randn(max_len, dim, generator=g, dtype=torch.float64) * 0.5)
        self.qkv = nn.Parameter(torch.randn(dim, 3 * dim, generator=g, dtype=torch.float64) / dim**0.5)
        self.out = nn.Parameter(torch.randn(dim, VOCAB, generator=g, dtype=torch.float64) * 2 / dim**0.5)
        self.eos_bias = eos_bias
        self.calls = 0

    def forward(self, input_ids, attention_mask=None):
        self.calls += 1
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        positions = (attention_mask.cumsum(1) - 1).clamp(min=0)
        h = self.embed[input_ids] + self.pos[positions]
        q, k, v = (h @ self.qkv).chunk(3, dim=-1)
        att = (q @ k.transpose(1, 2)) / q.shape[-1] ** 0.5
        att = att.masked_fill(attention_mask[:, None, :] == 0, -torch.inf).softmax(-1)
        logits = (h + att @ v) @ self.out
        logits[..., EOS] += self.eos_bias * positions / 32
        logits[..., MASK] = -1e9  # a mask predictor never predicts the mask itself
        return SimpleNamespace(logits=logits)
