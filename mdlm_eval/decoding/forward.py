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
    model_kwargs: dict = {}  # passed to every model call (`block_length` on a block-causal model)

    def __init__(self, model: torch.nn.Module):
        self.model = model

    def __call__(self, x, attention_mask, block_start: int, block_end: int, first_step_of_block: bool):
        return self.model(x, attention_mask=attention_mask, **self.model_kwargs).logits, 0


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
        cond, un = self.model(torch.cat([x, uncond]), attention_mask=both_mask, **self.model_kwargs).logits.chunk(2)
        return un + (self.cfg_scale + 1) * (cond - un), 0


def make_forward(model: torch.nn.Module, prompt_len: int, mask_id: int, cfg_scale: float) -> Forward:
    if cfg_scale > 0:
        return GuidedForward(model, prompt_len, mask_id, cfg_scale)
    return Forward(model)


class ShadowForward(Forward):
    """WINO's verification forward (github Feng-Hong/WINO-DLLM LLaDA/decoding.py `decoding_wino`): the canvas is
    followed by a shadow copy of the current block, all masks, at the block's positions. Canvas tokens do not see
    the shadow; shadow token j sees the canvas except block position j, and the whole shadow. Returns the canvas
    logits; `self.shadow` keeps the shadow's [b, W, V] (shadow j predicts block position j with its token hidden).
    The model must take a [b, 1, T, T] boolean attention mask and `position_ids`, as WINO's LLaDA model does."""

    def __init__(self, model: torch.nn.Module, mask_id: int):
        super().__init__(model)
        self.mask_id = mask_id
        self.shadow: torch.Tensor | None = None

    def __call__(self, x, attention_mask, block_start, block_end, first_step_of_block):
        b, T = x.shape
        width = block_end - block_start
        keys = torch.ones_like(x) if attention_mask is None else attention_mask
        positions = (keys.cumsum(1) - 1).clamp(min=0)
        positions = torch.cat([positions, positions[:, block_start:block_end]], dim=1)
        allowed = torch.cat([keys, keys.new_ones(b, width)], dim=1).bool()[:, None, :].repeat(1, T + width, 1)
        allowed[:, :T, T:] = False
        allowed[:, T:, block_start:block_end] &= ~torch.eye(width, dtype=torch.bool, device=x.device)
        extended = torch.cat([x, x.new_full((b, width), self.mask_id)], dim=1)
        logits = self.model(extended, attention_mask=allowed.unsqueeze(1), position_ids=positions).logits
        self.shadow = logits[:, T:]
        return logits[:, :T], 0
