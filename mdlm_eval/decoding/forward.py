"""The forward move of the loop: the model's logits for the current block.

A forward class is called once per step as

    logits, offset = forward(x_active, attention_mask_active, block_start, block_end, first_step_of_block)

x_active               [b, T] long: the canvases (prompt + generation, T the full length) of the rows still
                       decoding the current block, in batch order. At the first step of a block these are all
                       rows not yet done with the canvas; at later steps rows already done with the block are
                       left out (`self.rows` then names them, see below).
attention_mask_active  [b, T] or None: their attention masks (1 = attend; left padding is 0).
block_start, block_end absolute columns of x_active: the current block is x_active[:, block_start:block_end].
first_step_of_block    True at the first forward pass of a block (a cache is built there).

It returns `logits` [b, W, V] for the canvas positions offset .. offset + W - 1 (aligned: logits[:, i] predicts
the token at position offset + i), where the window must hold the block: offset <= block_start and
block_end <= offset + W. The plain forward returns the whole canvas (offset 0, W = T). Before each call the loop
sets `self.rows`: the batch index of each row of x_active as a LongTensor, or None when x_active is the whole
batch, so that a class holding per-row state (a KV cache) can keep the rows it is given. Each call is one
forward pass of the model (one NFE for each row of x_active), whatever it runs internally.
"""
from __future__ import annotations

import torch


class Forward:
    """The plain forward: the model over the whole canvas."""

    rows: torch.Tensor | None = None

    def __init__(self, model: torch.nn.Module):
        self.model = model

    def __call__(self, x, attention_mask, block_start: int, block_end: int, first_step_of_block: bool):
        return self.model(x, attention_mask=attention_mask).logits, 0


class GuidedForward(Forward):
    """Classifier-free guidance (LLaDA `cfg_scale`): one batched call on [x; x with the prompt masked],
    logits = un + (cfg + 1) (cond - un). The prompt is the first `prompt_len` columns (padding included, as
    LLaDA masks every non-mask token of the initial canvas)."""

    def __init__(self, model: torch.nn.Module, prompt_len: int, mask_id: int, cfg_scale: float):
        super().__init__(model)
        self.prompt_len, self.mask_id, self.cfg_scale = prompt_len, mask_id, cfg_scale

    def __call__(self, x, attention_mask, block_start, block_end, first_step_of_block):
        uncond = x.clone()
        uncond[:, : self.prompt_len] = self.mask_id
        both_mask = None if attention_mask is None else torch.cat([attention_mask, attention_mask])
        cond, un = self.model(torch.cat([x, uncond]), attention_mask=both_mask).logits.chunk(2)
        return un + (self.cfg_scale + 1) * (cond - un), 0


def make_forward(model: torch.nn.Module, prompt_len: int, mask_id: int, cfg_scale: float) -> Forward:
    if cfg_scale > 0:
        return GuidedForward(model, prompt_len, mask_id, cfg_scale)
    return Forward(model)
