"""SDAR (github JetAstra/SDAR; TraDo, Gen-Verse/dLLM-RL, shares the model file) implemented here: the
published checkpoints' weights load as they are (parameter names `model.{embed_tokens, layers.N.{self_attn.{q,k,v,
o}_proj, self_attn.{q,k}_norm, mlp.{gate,up,down}_proj, input_layernorm, post_attention_layernorm}, norm}`,
`lm_head` unless `tie_word_embeddings`), without the checkpoint's own code.

Same arithmetic as SDAR's `modeling_sdar.py` (a Qwen3 block, run block-causally):
  h = x + o_proj(SDPA(rope(q_norm(q)), rope(k_norm(k)), v)),  q, k, v = {q,k,v}_proj(rms(x)),
  q_norm / k_norm: RMS norms over each head's `head_dim` channels (before the rotation)
  out = h + down_proj(silu(gate_proj(rms(h))) * up_proj(rms(h)))
RMS norms as SDAR runs them (flash-attn's `rms_norm_fn`): x / sqrt(mean(x^2) + eps) * weight, all in >= float32,
cast back last. Rotary tables in float32 (half-split layout), cast to the activations' dtype before rotating (as
SDAR's `SDARRotaryEmbedding` does). Attention scale head_dim^-0.5. Logits are aligned with positions (output i
predicts token i: SDAR's `generate.py` samples a block from its own outputs; its training loss reads the same rows).

Attention: block-causal (`mdlm_eval.models.block_causal`): query i attends key j when block(j) <= block(i),
block(p) = position(p) // block_length, positions counting real tokens (`cumsum(attention_mask) - 1`), padded keys
never attended, so a left-padded row gives the logits of the same row alone (SDAR's own `generate.py` is batch 1
and builds the same mask from position 0 of the prompt: `tril(ones(n, n))` repeated `block_length` times each way).
`block_length` defaults to the checkpoint's `block_size`.

Model-side protocol (see `mdlm_eval.models.block_causal`): `block_causal`, `trained_block_length`;
`model(x[:, s:e], attention_mask=m[:, :e], past_key_values=pkv, window_start=s, use_cache=...)` attends
cached[:s] ++ window ++ cached[e:] (SDAR's `store_kv=False` passes hold [0, s) only; a cache past the window, e.g.
the dual cache or Fast-dLLM v2's sub-block cache, is read up to `m`'s length, the block rule deciding which of
those keys count); `use_cache=True` returns the window's per-layer (K, V), K rotated, for the caller to append
(SDAR's `store_kv=True` pass); `logits_range=(start, end)` (absolute positions). The cache is never written.
Fast-dLLM v2 (`FastDLLMV2ForCausalLM`, below) is the same model with the differences its config states.
A 4-D `[B, 1, W, K]` boolean `attention_mask` (True = attend) is used as given, with `position_ids` or
positions s..e-1.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_layers import GradientCheckpointingLayer

from mdlm_eval.models.block_causal import run_window, window_inputs, window_keys
from mdlm_eval.models.llada.modeling_llada import LladaOutput, RMSNorm, _compute_dtype, attend, rotary_tables, rotate

from .configuration_sdar import FastDLLMV2Config, SDARConfig

SDAROutput = LladaOutput  # `logits`, `past_key_values`


class SDARRMSNorm(RMSNorm):
    """flash-attn's `rms_norm_fn` (what SDAR calls): (x / sqrt(mean(x^2) + eps) * weight) in >= float32, then cast
    to x's dtype (LLaDA's `RMSNorm` casts before the weight; the two agree in float32)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cdt = _compute_dtype(x.dtype)
        h = x.to(cdt)
        return (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight.to(cdt)).to(x.dtype)


def norm(config: SDARConfig, dim: int) -> RMSNorm:
    """SDAR's RMS norm (weight in float32) or Qwen2's (Fast-dLLM v2: cast back, then the weight)."""
    return (SDARRMSNorm if config.norm_weight_in_float32 else RMSNorm)(dim, config.rms_norm_eps)


class SDARAttention(nn.Module):
    def __init__(self, config: SDARConfig):
        super().__init__()
        d, hd = config.hidden_size, config.head_dim
        self.n_heads, self.kv_heads, self.head_dim = config.num_attention_heads, config.num_key_value_heads, hd
        self.q_proj = nn.Linear(d, self.n_heads * hd, bias=config.qkv_bias)
        self.k_proj = nn.Linear(d, self.kv_heads * hd, bias=config.qkv_bias)
        self.v_proj = nn.Linear(d, self.kv_heads * hd, bias=config.qkv_bias)
        self.o_proj = nn.Linear(self.n_heads * hd, d, bias=config.o_bias)
        if config.qk_norm:
            self.q_norm = norm(config, hd)
            self.k_norm = norm(config, hd)

    def forward(self, x, cos, sin, mask, past=None, window_start=0):
        b, w, _ = x.shape
        q = self.q_proj(x).view(b, w, self.n_heads, self.head_dim)
        k = self.k_proj(x).view(b, w, self.kv_heads, self.head_dim)
        if hasattr(self, "q_norm"):
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        v = self.v_proj(x).view(b, w, self.kv_heads, self.head_dim).transpose(1, 2)
        y, present = attend(rotate(q, cos, sin), rotate(k, cos, sin), v, mask, past, window_start)
        return self.o_proj(y), present


class SDARMLP(nn.Module):
    def __init__(self, config: SDARConfig):
        super().__init__()
        d, ff = config.hidden_size, config.intermediate_size
        self.gate_proj = nn.Linear(d, ff, bias=False)
        self.up_proj = nn.Linear(d, ff, bias=False)
        self.down_proj = nn.Linear(ff, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class SDARDecoderLayer(GradientCheckpointingLayer):
    """One transformer block; `activation_checkpointing_enable()` recomputes it in backward."""

    def __init__(self, config: SDARConfig):
        super().__init__()
        self.self_attn = SDARAttention(config)
        self.mlp = SDARMLP(config)
        self.input_layernorm = norm(config, config.hidden_size)
        self.post_attention_layernorm = norm(config, config.hidden_size)

    def forward(self, x, cos, sin, mask, past=None, window_start=0):
        h, present = self.self_attn(self.input_layernorm(x), cos, sin, mask, past, window_start)
        x = x + h
        return x + self.mlp(self.post_attention_layernorm(x)), present


class SDARModel(nn.Module):
    """SDAR's `model` submodule: embeddings, layers, final norm."""

    def __init__(self, config: SDARConfig):
        super().__init__()
        pad = config.pad_token_id
        pad = pad if pad is not None and 0 <= pad < config.vocab_size else None
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, pad)
        self.layers = nn.ModuleList([SDARDecoderLayer(config) for _ in range(config.num_hidden_layers)])
        self.norm = norm(config, config.hidden_size)


class SDARForCausalLM(PreTrainedModel):
    """Block-diffusion mask predictor: token ids (the mask id at masked positions) -> logits aligned with
    positions, attention block-causal with blocks of `block_length` (default: the checkpoint's `block_size`)."""

    config_class = SDARConfig
    base_model_prefix = "model"
    _no_split_modules = ["SDARDecoderLayer"]
    supports_gradient_checkpointing = True
    supports_block_cache = True
    block_causal = True

    def __init__(self, config: SDARConfig):
        super().__init__(config)
        self.model = SDARModel(config)
        if not config.tie_word_embeddings:
            self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    @property
    def trained_block_length(self) -> int:
        return self.config.trained_block_length

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
        block_length: Optional[int] = None,
        logits_range: Optional[tuple[int, int]] = None,
        **kwargs,
    ) -> SDAROutput:
        cfg = self.config
        b, w = input_ids.shape
        block_length = int(block_length or self.trained_block_length)
        keys = window_keys(past_key_values, attention_mask, window_start, w)
        positions, mask = window_inputs(attention_mask, position_ids, window_start, w, keys, block_length, b,
                                        input_ids.device)
        x = self.model.embed_tokens(input_ids)
        cos, sin = rotary_tables(positions, cfg.head_dim, cfg.rope_theta, x.dtype)
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        x, presents = run_window(self.model.layers, x, cos, sin, mask, past_key_values, keys, window_start,
                                 logits_range)
        x = self.model.norm(x)
        logits = F.linear(x, self.model.embed_tokens.weight) if cfg.tie_word_embeddings else self.lm_head(x)
        return SDAROutput(logits=logits, past_key_values=presents if use_cache else None)


class FastDLLMV2ForCausalLM(SDARForCausalLM):
    """Fast-dLLM v2 (arXiv 2509.26328; `Fast_dLLM_QwenForCausalLM`): the same block-causal model with a Qwen2.5
    block (see `FastDLLMV2Config`); blocks of `bd_size` by default. Raw logits: output i predicts token i + 1;
    `mdlm_eval.models.profiles.ShiftedLogits` realigns them, as for Dream. Its `generate`'s sub-block cache
    (the current block's keys and values reused for the positions outside the sub-block) is a window with a cache
    past it: `model(x[:, s:e], past_key_values=pkv, window_start=s)`, `pkv` covering the whole block."""

    config_class = FastDLLMV2Config
