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

    def forward(self, input_ids, attention_mask=None, position_ids=None):
        """`attention_mask`: [b, T] (1 = token, 0 = padding) or [b, 1, T, T] bool (query i may attend key j,
        then `position_ids` [b, T] are required), as WINO's model takes it."""
        self.calls += 1
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if attention_mask.dim() == 4:
            blocked, positions = ~attention_mask[:, 0].bool(), position_ids
        else:
            blocked = attention_mask[:, None, :] == 0
            positions = (attention_mask.cumsum(1) - 1).clamp(min=0) if position_ids is None else position_ids
        h = self.embed[input_ids] + self.pos[positions]
        q, k, v = (h @ self.qkv).chunk(3, dim=-1)
        att = (q @ k.transpose(1, 2)) / q.shape[-1] ** 0.5
        att = att.masked_fill(blocked, -torch.inf).softmax(-1)
        logits = (h + att @ v) @ self.out
        logits[..., EOS] += self.eos_bias * positions / 32
        logits[..., MASK] = -1e9  # a mask predictor never predicts the mask itself
        return SimpleNamespace(logits=logits)


def left_padded(rows: list[torch.Tensor], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows as one left-padded batch: (ids, attention mask)."""
    width = max(len(r) for r in rows)
    ids, mask = torch.full((len(rows), width), pad), torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):], mask[i, width - len(r):] = r, 1
    return ids, mask


def assert_rows_decode_as_alone(model, rows: list[torch.Tensor], decoder, pad: int, **settings):
    """Each row of the left-padded batch decodes as it does alone: the same tokens and forward passes. Returns
    (the batch's output, each row's output alone)."""
    from mdlm_eval import decode

    ids, mask = left_padded(rows, pad)
    batch = decode(model, ids, decoder, attention_mask=mask, **settings)
    alone = [decode(model, r[None], decoder, **settings) for r in rows]
    for i, (r, out) in enumerate(zip(rows, alone)):
        assert torch.equal(batch.sequences[i, ids.shape[1]:], out.sequences[0, len(r):])
        assert batch.nfe_per_row[i] == out.nfe
    return batch, alone
