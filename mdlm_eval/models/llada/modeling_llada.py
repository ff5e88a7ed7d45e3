"""LLaDA (Nie et al. 2025, arXiv 2502.09992) implemented here: the published checkpoints' weights load as they
are (parameter names `model.transformer.{wte, blocks.N.{q,k,v}_proj, attn_out, ff_proj, up_proj, ff_out,
attn_norm, ff_norm}, ln_f, ff_out}`), without the checkpoint's own code.

Same arithmetic as LLaDA's `modeling_llada.py` (Llama-style block, bidirectional attention):
  h = x + attn_out(SDPA(rope(q), rope(k), v)),  q, k, v = {q,k,v}_proj(rms(x))
  out = h + ff_out(silu(ff_proj(rms(h))) * up_proj(rms(h)))
RMS norms are computed in float32 (float64 stays float64) and cast back before the weight, rotary embeddings
in float32 with LLaDA's half-split layout. Two differences, both only where LLaDA ignores its input:
`attention_mask` (1 = token, 0 = padding) removes padded keys from every softmax and sets rotary positions to
`cumsum(attention_mask) - 1`, so a left-padded row gives the logits of the same row alone (LLaDA's own code
calls SDPA with `attn_mask=None`).

Block caches (the protocol the decoding loop's cached forwards use; no other module is imported here):
- `model(x, attention_mask=m, use_cache=True)` also returns `past_key_values`: per layer (K, V), each
  [batch, kv_heads, length, head_dim], K already rotated.
- `model(x[:, s:s+W], attention_mask=m, past_key_values=pkv, window_start=s)` recomputes only the window: its
  queries attend to cached[:s] ++ fresh window ++ cached[s+W:] (prefix cache: the window runs to the end; dual
  cache: the window is the current block), the window sits at its absolute positions, `m` still spans the
  whole sequence. The cache is read, never written.
- `logits_range=(start, end)` (absolute positions inside the fed window): the logits of those positions only.

WINO's inputs (as WINO's LLaDA model file takes them, github Feng-Hong/WINO-DLLM): `attention_mask` may also be a
[batch, 1, T, T] boolean mask (query i attends key j where True), and `position_ids` [batch, T] replace the
rotary positions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_layers import GradientCheckpointingLayer

from .configuration_llada import LladaConfig


@dataclass
class LladaOutput:
    """`logits`: [batch, length, vocab]; `past_key_values`: per layer (K, V) when `use_cache=True`."""

    logits: Optional[torch.Tensor] = None
    past_key_values: Optional[tuple] = None


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


class RMSNorm(nn.Module):
    """weight * (x / sqrt(mean(x^2) + eps)); the normalisation in >= float32, cast back before the weight."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.to(_compute_dtype(x.dtype))
        h = (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)
        return self.weight * h


def rotary_tables(positions: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype):
    """(cos, sin) [batch, 1, length, head_dim] at integer `positions` [batch, length] (Su et al. 2021)."""
    cdt = _compute_dtype(dtype)
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=cdt) / head_dim))
    angles = positions.to(cdt)[..., None] * inv_freq
    angles = torch.cat([angles, angles], dim=-1)[:, None]
    return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x * cos + rotate_half(x) * sin in the tables' precision, cast back (LLaDA's rope_full_precision)."""
    h = x.to(cos.dtype)
    half = h.shape[-1] // 2
    return (h * cos + torch.cat([-h[..., half:], h[..., :half]], dim=-1) * sin).to(x.dtype)


def attend(q, k, v, mask, past=None, window_start: int = 0):
    """Bidirectional SDPA (no causal mask) of a window's rotated q, k [b, h, W, d] and v; with `past`, the keys
    are cached[:s] ++ window ++ cached[s+W:] (s = `window_start`); grouped key/value heads are repeated to q's.
    Returns (output [b, W, h * d], the window's (k, v) to cache)."""
    b, heads, w, _ = q.shape
    present = (k, v)
    if past is not None:
        s, e = window_start, window_start + w
        k = torch.cat([past[0][:, :, :s], k, past[0][:, :, e:]], dim=2)
        v = torch.cat([past[1][:, :, :s], v, past[1][:, :, e:]], dim=2)
    if k.shape[1] != heads:
        k = k.repeat_interleave(heads // k.shape[1], dim=1)
        v = v.repeat_interleave(heads // v.shape[1], dim=1)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return y.transpose(1, 2).reshape(b, w, -1), present


class LladaBlock(GradientCheckpointingLayer):
    """One transformer block; `activation_checkpointing_enable()` recomputes it in backward."""

    def __init__(self, config: LladaConfig):
        super().__init__()
        d, kv = config.d_model, config.kv_heads * config.head_dim
        qkv_bias = bool(config.include_bias or config.include_qkv_bias)
        self.n_heads, self.kv_heads, self.head_dim = config.n_heads, config.kv_heads, config.head_dim
        self.attn_norm = RMSNorm(d, config.rms_norm_eps)
        self.ff_norm = RMSNorm(d, config.rms_norm_eps)
        self.q_proj = nn.Linear(d, d, bias=qkv_bias)
        self.k_proj = nn.Linear(d, kv, bias=qkv_bias)
        self.v_proj = nn.Linear(d, kv, bias=qkv_bias)
        self.attn_out = nn.Linear(d, d, bias=config.include_bias)
        self.ff_proj = nn.Linear(d, config.ff_hidden, bias=config.include_bias)
        self.up_proj = nn.Linear(d, config.ff_hidden, bias=config.include_bias)
        self.ff_out = nn.Linear(config.ff_hidden, d, bias=config.include_bias)

    def forward(self, x, cos, sin, key_mask, past=None, window_start=0):
        b, w, _ = x.shape
        h = self.attn_norm(x)
        q = self.q_proj(h).view(b, w, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(h).view(b, w, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(h).view(b, w, self.kv_heads, self.head_dim).transpose(1, 2)
        y, present = attend(rotate(q, cos, sin), rotate(k, cos, sin), v, key_mask, past, window_start)
        x = x + self.attn_out(y)
        h = self.ff_norm(x)
        return x + self.ff_out(F.silu(self.ff_proj(h)) * self.up_proj(h)), present


class LladaTransformer(nn.Module):
    """LLaDA's `model` submodule; parameters under `transformer` as in the checkpoints."""

    def __init__(self, config: LladaConfig):
        super().__init__()
        modules = {
            "wte": nn.Embedding(config.embedding_size or config.vocab_size, config.d_model),
            "blocks": nn.ModuleList([LladaBlock(config) for _ in range(config.n_layers)]),
            "ln_f": RMSNorm(config.d_model, config.rms_norm_eps),
        }
        if not config.weight_tying:
            modules["ff_out"] = nn.Linear(config.d_model, config.embedding_size or config.vocab_size,
                                          bias=config.include_bias)
        self.transformer = nn.ModuleDict(modules)


class LladaModelLM(PreTrainedModel):
    """Mask predictor: token ids (mask id 126336 at masked positions) -> logits for every position."""

    config_class = LladaConfig
    base_model_prefix = "model"
    _no_split_modules = ["LladaBlock"]
    supports_block_cache = True
    supports_gradient_checkpointing = True

    def __init__(self, config: LladaConfig):
        super().__init__(config)
        self.model = LladaTransformer(config)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, RMSNorm):
            nn.init.ones_(module.weight)

    def get_input_embeddings(self):
        return self.model.transformer.wte

    def set_input_embeddings(self, value):
        self.model.transformer.wte = value

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: Optional[torch.Tensor] = None,
        past_key_values: Optional[tuple] = None,
        use_cache: bool = False,
        window_start: int = 0,
        logits_range: Optional[tuple[int, int]] = None,
        position_ids: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> LladaOutput:
        cfg, t = self.config, self.model.transformer
        b, w = input_ids.shape
        length = w if past_key_values is None else past_key_values[0][0].shape[2]
        if attention_mask is not None and attention_mask.dim() == 4:  # [B, 1, T, T] bool: query i attends key j
            positions = torch.arange(window_start, window_start + w, device=input_ids.device).expand(b, w)
            key_mask = attention_mask.bool()
        elif attention_mask is None or bool(attention_mask.all()):
            positions = torch.arange(window_start, window_start + w, device=input_ids.device).expand(b, w)
            key_mask = None
        else:
            am = attention_mask.to(torch.long)
            positions = (am.cumsum(-1) - 1).clamp(min=0)[:, window_start:window_start + w]
            key_mask = am.bool()[:, None, None, :length]  # [B, 1, 1, keys]: padded keys never attended
        positions = positions if position_ids is None else position_ids
        x = t.wte(input_ids)
        if cfg.input_emb_norm:
            x = x * cfg.d_model ** 0.5
        cos, sin = rotary_tables(positions, cfg.head_dim, cfg.rope_theta, x.dtype)
        presents = []
        for i, block in enumerate(t.blocks):
            past = None if past_key_values is None else past_key_values[i]
            x, present = block(x, cos, sin, key_mask, past, window_start)
            presents.append(present)
        if logits_range is not None:  # logits of canvas positions [start, end) only (the decoders' current block)
            x = x[:, logits_range[0] - window_start:logits_range[1] - window_start]
        x = t.ln_f(x)
        logits = F.linear(x, t.wte.weight) if cfg.weight_tying else t.ff_out(x)
        if cfg.scale_logits:
            logits = logits * (1 / cfg.d_model ** 0.5)
        return LladaOutput(logits=logits, past_key_values=tuple(presents) if use_cache else None)
