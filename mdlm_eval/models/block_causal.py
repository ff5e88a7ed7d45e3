"""Block-causal attention (block diffusion: BD3-LM, arXiv 2503.09573; SDAR; LLaDA2; Fast-dLLM v2).

The sequence is cut into blocks of `block_length` by position; a query attends every key of its own block and of
the blocks before it: allowed(i, j) = real(j) and block(j) <= block(i), block(p) = position(p) // block_length.
Positions count real tokens (`cumsum(attention_mask) - 1`), so the blocks of a left-padded row are those of the
same row alone. The references lay blocks out from position 0 of the prompt (LLaDA2's and SDAR's `generate`:
`tril(ones(num_blocks, num_blocks)).repeat_interleave(block_length, 0).repeat_interleave(block_length, 1)`), so
the first generated block shares its block with the prompt's last `prompt_len % block_length` tokens.

The model side of the protocol (duck-typed; the native block-diffusion models implement it):
- `model.block_causal = True`; `model.trained_block_length` (int): the block size the checkpoint was trained with.
- `model(x, attention_mask=m, block_length=B)`: the block-causal forward over the whole sequence.
- `model(x[:, s:e], attention_mask=m[:, :e], past_key_values=pkv, window_start=s, block_length=B,
  use_cache=...)`: the window's queries attend cached[:s] ++ the window under the same rule; `pkv` holds every
  layer's (K, V) of positions [0, s), K rotated, as a `use_cache=True` call returns them for what it was fed
  (the caller appends them). Since a finished block's keys and values never change, this equals the full forward.
"""
from __future__ import annotations

import torch


def real_positions(attention_mask: torch.Tensor | None, length: int, batch: int, device) -> torch.Tensor:
    """[batch, length] positions counting real tokens (padding before a row's first token gets 0)."""
    if attention_mask is None:
        return torch.arange(length, device=device).expand(batch, length)
    return (attention_mask[:, :length].to(torch.long).cumsum(-1) - 1).clamp(min=0)


def block_causal_mask(attention_mask: torch.Tensor | None, block_length: int, window_start: int, window: int,
                      batch: int, device) -> torch.Tensor:
    """Boolean [batch, 1, window, window_start + window]: query i (at window_start + i) attends key j where True.

    `attention_mask` [batch, >= window_start + window] (1 = token, 0 = padding) or None (no padding)."""
    keys = window_start + window
    pos = real_positions(attention_mask, keys, batch, device)
    block = torch.div(pos, block_length, rounding_mode="floor")
    allowed = block[:, None, :] <= block[:, window_start:, None]  # [b, W, K]
    if attention_mask is not None:
        allowed = allowed & attention_mask[:, None, :keys].bool()
    return allowed[:, None]


def window_inputs(attention_mask, position_ids, window_start: int, width: int, keys: int, block_length: int,
                  batch: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(rotary positions [B, W], boolean SDPA mask [B, 1, W, keys]) of the window [s, s + W) over key positions
    [0, keys): `block_causal_mask`'s rule for queries s..keys-1 (keys past the window: a cache that covers the rest
    of the block), cut to the window's W rows, plus i == j, so that a padded query whose row has no real key yet
    keeps a non-empty softmax (its output is never read; real queries attend themselves anyway).

    A 4-D `attention_mask` is used as given, with positions s..s+W-1: boolean (True = attend; SDAR's `generate`)
    or additive (0 = attend, -inf = not; LLaDA2's `generate`, the log of its 0/1 block mask); `position_ids` (the
    window's, or the whole sequence's) replace the positions."""
    if attention_mask is not None and attention_mask.dim() == 4:
        rows = attention_mask if attention_mask.shape[-2] == width else attention_mask[..., window_start:, :]
        rows = rows[..., :width, :keys]
        mask = rows == 0 if rows.is_floating_point() else rows.bool()
        positions = torch.arange(window_start, window_start + width, device=device).expand(batch, width)
    else:
        mask = block_causal_mask(attention_mask, block_length, window_start, keys - window_start, batch, device)
        own = torch.zeros(width, keys, dtype=torch.bool, device=device)
        own[:, window_start:window_start + width] = torch.eye(width, dtype=torch.bool, device=device)
        mask = mask[:, :, :width] | own
        positions = real_positions(attention_mask, keys, batch, device)[:, window_start:window_start + width]
    if position_ids is not None:
        positions = position_ids if position_ids.shape[1] == width else position_ids[:, window_start:window_start + width]
    return positions, mask


def window_keys(past_key_values, attention_mask, window_start: int, width: int) -> int:
    """How many key positions the window [s, s + W) attends over: s + W, or further when the cache holds positions
    past the window (the rest of the current block, as Fast-dLLM v2's sub-block cache) and the mask covers them."""
    keys = window_start + width
    if past_key_values is not None:
        cached = past_key_values[0][0].shape[2]
        if cached < window_start:
            raise ValueError(f"the cache holds {cached} positions; the window starts at {window_start}")
        covered = cached if attention_mask is None or attention_mask.dim() == 4 else attention_mask.shape[1]
        keys = max(keys, min(cached, covered))
    if attention_mask is not None and attention_mask.dim() == 2 and attention_mask.shape[1] < keys:
        raise ValueError(f"attention_mask covers {attention_mask.shape[1]} positions; the window ends at {keys}")
    return keys


def run_window(layers, x, cos, sin, mask, past_key_values, keys: int, window_start: int,
               logits_range: tuple[int, int] | None):
    """The decoder layers over a window, each reading its cached (K, V) of the first `keys` positions; returns the
    hidden states (of the absolute positions `logits_range` [start, end) only, when given) and the window's
    per-layer (K, V)."""
    presents = []
    for i, layer in enumerate(layers):
        past = None if past_key_values is None else tuple(t[:, :, :keys] for t in past_key_values[i])
        x, present = layer(x, cos, sin, mask, past, window_start)
        presents.append(present)
    if logits_range is not None:  # the decoders' current block
        x = x[:, logits_range[0] - window_start:logits_range[1] - window_start]
    return x, tuple(presents)


def unsupported_rope_or_act(config) -> str | None:
    """What the native block-causal models share not to cover: RoPE scaling (they implement default RoPE) and an
    activation other than SiLU; None when the config uses neither."""
    scaling = getattr(config, "rope_scaling", None) or {}
    if scaling.get("rope_type", scaling.get("type", "default")) != "default":
        return f"rope_scaling={scaling!r} (the native model implements default RoPE)"
    if config.hidden_act != "silu":
        return f"hidden_act={config.hidden_act!r} (the native model implements 'silu')"
    return None

