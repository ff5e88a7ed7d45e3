"""Dream (Ye et al. 2025, arXiv 2508.15487) implemented here: the published checkpoints' weights load as they are
(parameter names `model.{embed_tokens, layers.N.{self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj,
input_layernorm, post_attention_layernorm}, norm}`, `lm_head`), without the checkpoint's own code.

Same arithmetic as Dream's `modeling_dream.py` (a Qwen2 block run with bidirectional attention):
  h = x + o_proj(SDPA(rope(q), rope(k), v)),  q, k, v = {q,k,v}_proj(rms(x)) (with bias)
  out = h + down_proj(silu(gate_proj(rms(h))) * up_proj(rms(h)))
RMS norms are computed in >= float32 and cast back before the weight; rotary tables in >= float32, cast to the
activations' dtype before rotating (as Dream does). The logits are Dream's raw outputs: output i predicts token
i + 1; `mdlm_eval.models.profiles.ShiftedLogits` realigns them (the one place that does).

Attention masks:
- 2-D `attention_mask` (1 = token, 0 = padding): padded keys leave every softmax, rotary positions are
  `cumsum(attention_mask) - 1`, so a left-padded row gives the logits of the same row alone (what Dream's
  sampler gets from its [B, 1, T, T] mask and `tok_idx`);
- 4-D `[B, 1, T, T]` boolean (or 0/1) mask, as Dream's sampler and WINO pass it: used as is (True = attend),
  each query also attending to itself so that no softmax is empty; positions from `position_ids`
  (default 0..T-1).
`position_ids` [B, T] (or [B, W] for a window) override the positions either way.

Block caches: the protocol of `mdlm_eval.models.llada` (`use_cache`, `past_key_values` per layer (K, V),
`window_start`, `logits_range`; the cache is read, never written).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from mdlm_eval.models.llada.modeling_llada import LladaOutput, RMSNorm, attend, rotary_tables, rotate

from .configuration_dream import DreamConfig

DreamOutput = LladaOutput  # `logits`, `past_key_values`


class DreamAttention(nn.Module):
    def __init__(self, config: DreamConfig):
        super().__init__()
        d, hd = config.hidden_size, config.head_dim
        self.n_heads, self.kv_heads, self.head_dim = config.num_attention_heads, config.num_key_value_heads, hd
        self.q_proj = nn.Linear(d, self.n_heads * hd, bias=True)
        self.k_proj = nn.Linear(d, self.kv_heads * hd, bias=True)
        self.v_proj = nn.Linear(d, self.kv_heads * hd, bias=True)
        self.o_proj = nn.Linear(self.n_heads * hd, d, bias=False)

    def forward(self, x, cos, sin, mask, past=None, window_start=0):
        b, w, _ = x.shape
        q = self.q_proj(x).view(b, w, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, w, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, w, self.kv_heads, self.head_dim).transpose(1, 2)
        y, present = attend(rotate(q, cos, sin), rotate(k, cos, sin), v, mask, past, window_start)
        return self.o_proj(y), present


class DreamMLP(nn.Module):
    def __init__(self, config: DreamConfig):
        super().__init__()
        d, ff = config.hidden_size, config.intermediate_size
        self.gate_proj = nn.Linear(d, ff, bias=False)
        self.up_proj = nn.Linear(d, ff, bias=False)
        self.down_proj = nn.Linear(ff, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DreamDecoderLayer(nn.Module):
    def __init__(self, config: DreamConfig):
        super().__init__()
        self.self_attn = DreamAttention(config)
        self.mlp = DreamMLP(config)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, x, cos, sin, mask, past=None, window_start=0):
        h, present = self.self_attn(self.input_layernorm(x), cos, sin, mask, past, window_start)
        x = x + h
        return x + self.mlp(self.post_attention_layernorm(x)), present


class DreamBaseModel(nn.Module):
    """Dream's `model` submodule: embeddings, layers, final norm."""

    def __init__(self, config: DreamConfig):
        super().__init__()
        pad = config.pad_token_id
        pad = pad if pad is not None and pad < config.vocab_size else None
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, pad)
        self.layers = nn.ModuleList([DreamDecoderLayer(config) for _ in range(config.num_hidden_layers)])
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)


def attention_inputs(attention_mask, position_ids, window_start: int, width: int, length: int, batch: int,
                     device) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """(rotary positions [B, W] of the window, SDPA mask or None) from a 2-D or 4-D attention mask."""
    mask = None
    if attention_mask is not None and attention_mask.dim() == 4:
        mask = attention_mask[:, :, window_start:window_start + width, :length].bool()
        own = torch.zeros(mask.shape[-2:], dtype=torch.bool, device=device)
        own[:, window_start:window_start + width] = torch.eye(width, dtype=torch.bool, device=device)
        mask = mask | own
        positions = torch.arange(window_start, window_start + width, device=device).expand(batch, width)
    elif attention_mask is None or bool(attention_mask.all()):
        positions = torch.arange(window_start, window_start + width, device=device).expand(batch, width)
    else:
        am = attention_mask.to(torch.long)
        positions = (am.cumsum(-1) - 1).clamp(min=0)[:, window_start:window_start + width]
        mask = am.bool()[:, None, None, :length]  # [B, 1, 1, keys]: padded keys never attended
    if position_ids is not None:
        fits = position_ids.shape[1] == width  # the window's own, else the whole sequence's
        positions = position_ids if fits else position_ids[:, window_start:window_start + width]
    return positions, mask


class DreamModel(PreTrainedModel):
    """Mask predictor: token ids (Dream's mask id at masked positions) -> raw logits (output i predicts i + 1)."""

    config_class = DreamConfig
    base_model_prefix = "model"
    _no_split_modules = ["DreamDecoderLayer"]
    supports_block_cache = True

    def __init__(self, config: DreamConfig):
        super().__init__(config)
        self.model = DreamBaseModel(config)
        if not config.tie_word_embeddings:
            self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, RMSNorm):
            nn.init.ones_(module.weight)

    def get_input_embeddings(self):
        return self.model.embed_tokens

    def set_input_embeddings(self, value):
        self.model.embed_tokens = value

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.LongTensor] = None,
        past_key_values: Optional[tuple] = None,
        use_cache: bool = False,
        window_start: int = 0,
        logits_range: Optional[tuple[int, int]] = None,
        **kwargs,
    ) -> DreamOutput:
        cfg = self.config
        b, w = input_ids.shape
        length = w if past_key_values is None else past_key_values[0][0].shape[2]
        positions, mask = attention_inputs(attention_mask, position_ids, window_start, w, length, b, input_ids.device)
        x = self.model.embed_tokens(input_ids)
        cos, sin = rotary_tables(positions, cfg.head_dim, cfg.rope_theta, x.dtype)
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        presents = []
        for i, layer in enumerate(self.model.layers):
            past = None if past_key_values is None else past_key_values[i]
            x, present = layer(x, cos, sin, mask, past, window_start)
            presents.append(present)
        if logits_range is not None:  # logits of positions [start, end) only
            x = x[:, logits_range[0] - window_start:logits_range[1] - window_start]
        x = self.model.norm(x)
        logits = F.linear(x, self.model.embed_tokens.weight) if cfg.tie_word_embeddings else self.lm_head(x)
        return DreamOutput(logits=logits, past_key_values=tuple(presents) if use_cache else None)
