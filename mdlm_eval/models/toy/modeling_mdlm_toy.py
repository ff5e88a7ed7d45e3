"""The toy masked diffusion LM: a bidirectional pre-norm transformer in LLaDA's shape.

Self-contained (imports torch, transformers and the configuration beside it) so that a copy inside a checkpoint
folder loads through `AutoModel.from_pretrained(folder, trust_remote_code=True)`.

Interface as LLaDA's: `model(input_ids, attention_mask=None).logits` is [batch, length, vocab]. Attention is
bidirectional (no causal mask). `attention_mask` (1 = token, 0 = padding) removes padded keys from every softmax
and sets rotary positions to `cumsum(attention_mask) - 1`, so a left-padded row gives the logits of the same row
alone (up to float rounding). Works in any float dtype (tests run it in float64).

Block caches (as the native LLaDA model): `use_cache=True` also returns `past_key_values`, per block (K, V)
[batch, heads, length, head_dim] with K rotated; `model(x[:, s:s+W], attention_mask=<mask of the whole
sequence>, past_key_values=pkv, window_start=s)` recomputes the window only, its queries attending to
cached[:s] ++ window ++ cached[s+W:], at positions `cumsum(attention_mask) - 1` sliced to the window.
`logits_range=(start, end)` (absolute positions inside the fed window) returns the logits of those positions only.

Block-causal mode (`config.block_causal`, the protocol of the harness's block_causal module): query i attends key
j iff j is real and block(j) <= block(i), block = (cumsum(attention_mask) - 1) // block_length (`block_length=`
kwarg, default `config.trained_block_length`). With `past_key_values`, the cache holds positions [0, s) only
(s = `window_start`) and the window's queries attend cached[:s] ++ window; `attention_mask` then covers [0, s + W).
`use_cache=True` returns the fed window's per-layer (K, V).

WINO's inputs (github Feng-Hong/WINO-DLLM): `attention_mask` may also be a [batch, 1, length, length] boolean
mask (query i attends key j where True), and `position_ids` [batch, length] replace the rotary positions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_layers import GradientCheckpointingLayer

from .configuration_mdlm_toy import MdlmToyConfig


@dataclass
class MdlmToyOutput:
    """`logits`: [batch, length, vocab]; `past_key_values`: per block (K, V) when `use_cache=True`."""

    logits: Optional[torch.Tensor] = None
    past_key_values: Optional[tuple] = None


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """At least float32 for norms and rotary tables, float64 stays float64."""
    return torch.promote_types(dtype, torch.float32)


def real_positions(attention_mask: Optional[torch.Tensor], length: int, batch: int, device) -> torch.Tensor:
    """[batch, length] positions counting real tokens (cumsum(mask) - 1, >= 0). The rule of
    the harness's block_causal module, restated because this file must load on its own (trust_remote_code)."""
    if attention_mask is None:
        return torch.arange(length, device=device).expand(batch, length)
    return (attention_mask[:, :length].to(torch.long).cumsum(-1) - 1).clamp(min=0)


def block_causal_mask(attention_mask, block_length: int, window_start: int, window: int, batch: int, device):
    """[batch, 1, window, window_start + window] bool: allowed(i, j) = real(j) and block(j) <= block(i),
    block(p) = real_position(p) // block_length (the harness's block_causal module, restated as above)."""
    keys = window_start + window
    block = torch.div(real_positions(attention_mask, keys, batch, device), block_length, rounding_mode="floor")
    allowed = block[:, None, :] <= block[:, window_start:, None]
    if attention_mask is not None:
        allowed = allowed & attention_mask[:, None, :keys].bool()
    return allowed[:, None]


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2) + eps) * weight (Zhang & Sennrich 2019), computed in >= float32."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.to(_compute_dtype(x.dtype))
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return (h * self.weight.to(h.dtype)).to(x.dtype)


def rotary_cos_sin(position_ids: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype):
    """cos/sin tables [batch, 1, length, head_dim] for rotary embeddings (Su et al. 2021), half-split layout."""
    cdt = _compute_dtype(dtype)
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=position_ids.device, dtype=cdt) / head_dim))
    angles = position_ids.to(cdt)[..., None] * inv_freq  # [B, L, D/2]
    angles = torch.cat([angles, angles], dim=-1)[:, None]
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, config: MdlmToyConfig):
        super().__init__()
        self.n_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=False)
        self.out = nn.Linear(config.hidden_size, config.hidden_size, bias=False)

    def forward(self, x, cos, sin, key_mask, past=None, window_start=0, block_causal=False):
        b, l, _ = x.shape
        q, k, v = self.qkv(x).view(b, l, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        present = (k, v)
        if past is not None and block_causal:  # keys = cached[:s] ++ window (block_causal.py protocol)
            k = torch.cat([past[0][:, :, :window_start], k], dim=2)
            v = torch.cat([past[1][:, :, :window_start], v], dim=2)
        elif past is not None:  # keys = cached[:s] ++ window ++ cached[s+W:]
            s, e = window_start, window_start + l
            k = torch.cat([past[0][:, :, :s], k, past[0][:, :, e:]], dim=2)
            v = torch.cat([past[1][:, :, :s], v, past[1][:, :, e:]], dim=2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)  # bidirectional: no causal mask
        return self.out(y.transpose(1, 2).reshape(b, l, -1)), present


class SwiGLU(nn.Module):
    """down(silu(gate(x)) * up(x)) (Shazeer 2020)."""

    def __init__(self, config: MdlmToyConfig):
        super().__init__()
        self.gate_up = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        self.down = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x):
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(GradientCheckpointingLayer):
    """One transformer block; `activation_checkpointing_enable()` recomputes it in backward."""

    def __init__(self, config: MdlmToyConfig):
        super().__init__()
        self.attn_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.attn = Attention(config)
        self.mlp_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = SwiGLU(config)

    def forward(self, x, cos, sin, key_mask, past=None, window_start=0, block_causal=False):
        y, present = self.attn(self.attn_norm(x), cos, sin, key_mask, past, window_start, block_causal)
        x = x + y
        return x + self.mlp(self.mlp_norm(x)), present


class MdlmToyModel(PreTrainedModel):
    """Mask predictor: token ids (with `mask_token_id` at masked positions) -> logits for every position."""

    config_class = MdlmToyConfig
    base_model_prefix = "mdlm_toy"
    _no_split_modules = ["Block"]
    supports_block_cache = True
    supports_gradient_checkpointing = True

    def __init__(self, config: MdlmToyConfig):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.num_hidden_layers)])
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, RMSNorm):
            nn.init.ones_(module.weight)

    @property
    def block_causal(self) -> bool:
        """True in block-causal (block diffusion) mode: the loop takes its block-diffusion path."""
        return bool(getattr(self.config, "block_causal", False))

    @property
    def trained_block_length(self) -> int:
        return int(getattr(self.config, "trained_block_length", 8))

    def get_input_embeddings(self):
        return self.embed

    def set_input_embeddings(self, value):
        self.embed = value

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: Optional[torch.Tensor] = None,
        return_dict: Optional[bool] = None,
        past_key_values: Optional[tuple] = None,
        use_cache: bool = False,
        window_start: int = 0,
        logits_range: Optional[tuple[int, int]] = None,
        position_ids: Optional[torch.Tensor] = None,
        block_length: Optional[int] = None,
        **kwargs,
    ) -> MdlmToyOutput:
        b, l = input_ids.shape
        x = self.embed(input_ids)
        causal = self.block_causal and (attention_mask is None or attention_mask.dim() == 2)
        if causal:  # block-causal: keys [0, s + W), blocks by real position (block_causal.py)
            s = window_start if past_key_values is not None else 0
            mask = None if attention_mask is None else attention_mask[:, :s + l].to(torch.long)
            key_mask = block_causal_mask(mask, block_length or self.trained_block_length, s, l, b, x.device)
            key_mask = key_mask | ~key_mask.any(-1, keepdim=True)  # a query with no real key (padding): no NaN
            positions = real_positions(mask, s + l, b, x.device)[:, s:]
        elif attention_mask is None or attention_mask.dim() == 4:
            positions = torch.arange(window_start, window_start + l, device=input_ids.device).expand(b, l)
            key_mask = None if attention_mask is None else attention_mask.bool()  # [B, 1, L, L]: query i, key j
        else:
            am = attention_mask.to(torch.long)
            positions = (am.cumsum(-1) - 1).clamp(min=0)[:, window_start:window_start + l]
            key_mask = am.bool()[:, None, None, :]  # [B, 1, 1, L]: padded keys never attended
        position_ids = positions if position_ids is None else position_ids
        cos, sin = rotary_cos_sin(position_ids, self.config.hidden_size // self.config.num_attention_heads,
                                  self.config.rope_theta, x.dtype)
        presents = []
        for i, block in enumerate(self.blocks):
            x, present = block(x, cos, sin, key_mask, None if past_key_values is None else past_key_values[i],
                               window_start, causal)
            presents.append(present)
        if logits_range is not None:  # logits of canvas positions [start, end) only (the decoders' current block)
            x = x[:, logits_range[0] - window_start:logits_range[1] - window_start]
        logits = self.lm_head(self.norm(x))
        return MdlmToyOutput(logits=logits, past_key_values=tuple(presents) if use_cache else None)
