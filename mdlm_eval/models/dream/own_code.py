"""Dream's own modeling code (`native=false`) called the way Dream's sampler calls it.

Dream's `modeling_dream.py` hands its attention mask to SDPA unchanged, so a tokenizer's 2-D integer mask
fails there. Its sampler (`generation_utils.py` `_sample`) builds the inputs instead: with padding, a
[B, 1, T, T] boolean mask (query and key both real) and positions `tok_idx = cumsum(mask) - 1` (1 at padding);
without, `attention_mask="full"` and no positions. `DreamOwnCode` does the same for every forward.
"""
from __future__ import annotations

import torch
from torch import nn


def sampler_inputs(attention_mask: torch.Tensor | None) -> tuple:
    """(attention mask, position ids) as Dream's `_sample` passes them for a 2-D padding mask."""
    if attention_mask is None or not bool((attention_mask == 0).any()):
        return "full", None
    tok_idx = attention_mask.long().cumsum(-1) - 1
    tok_idx = tok_idx.masked_fill(attention_mask == 0, 1)
    mask = torch.logical_and(attention_mask.unsqueeze(1).unsqueeze(-2), attention_mask.unsqueeze(1).unsqueeze(-1))
    return mask, tok_idx


class DreamOwnCode(nn.Module):
    """A Dream model from its own code, called with the sampler's mask and positions. Padded positions attend to
    nothing there (their outputs are NaN); their logits are set to 0 here, as no decoder reads them."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.config = model.config

    def forward(self, input_ids, attention_mask=None):
        mask, positions = sampler_inputs(attention_mask)
        out = self.model(input_ids, mask, positions)
        if positions is not None:
            out.logits = out.logits.masked_fill(attention_mask[..., None] == 0, 0.0)
        return out
