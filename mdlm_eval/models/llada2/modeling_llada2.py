"""LLaDA2 MoE (LLaDA2.0/2.1-mini and -flash; inclusionAI, model_type `llada2_moe`) implemented here: the published
checkpoints' weights load as they are (parameter names `model.word_embeddings`, `model.layers.N.{input_layernorm,
attention.{query_key_value, query_layernorm, key_layernorm, dense}, post_attention_layernorm, mlp.*}`,
`model.norm`, `lm_head`; `mlp` is `{gate,up,down}_proj` in the first `first_k_dense_replace` layers and
`{gate.weight, gate.expert_bias, experts.E.{gate,up,down}_proj, shared_experts.{gate,up,down}_proj}` after),
without the checkpoint's own code.

Same arithmetic as LLaDA2's `modeling_llada2_moe.py` (copies: ZHZisZZ/dllm `dllm/pipelines/llada2/models/`,
inclusionAI/dInfer `python/dinfer/model/`), a Ling/Bailing-MoE-v2 block:
  h = x + dense(SDPA(rope(rms_q(q)), rope(rms_k(k)), v)),  q, k, v = split(query_key_value(rms(x)))
  out = h + mlp(rms(h))
- q/k RMS norms per head over head_dim; partial rotary: only the first int(head_dim * partial_rotary_factor)
  dimensions of each head rotate (half-split layout inside them), the rest pass through.
- router: s = sigmoid(x W_g^T) in float32; experts chosen on s + expert_bias, group-limited (the `topk_group`
  of `n_group` groups with the largest sum of their top-2 biased scores, then the `num_experts_per_tok` best
  experts inside them); weights = s of the chosen (without the bias) / (sum + 1e-20) when top_k > 1, times
  `routed_scaling_factor`; mlp = sum_k weight_k * expert_k(x) (in float32, cast back) + shared_experts(x).
- logits in at least float32 (the reference returns `logits.float()`).
RMS norms in float32 (float64 stays float64), cast back before the weight; rotary tables in float32, cast to the
activations' dtype before rotating (LLaDA2's rotary embedding does both the same way).

Attention is block-causal (`mdlm_eval.models.block_causal`): query i attends key j when block(j) <= block(i),
block(p) = real position(p) // block_length, padded keys never; LLaDA2's `generate` builds the same mask from
position 0 of the prompt. Positions count real tokens (`cumsum(attention_mask) - 1`), so a left-padded row gives the
logits of the same row alone (the reference takes no padding mask in `generate`); a padded query also attends
itself, so that a window of padding only gives finite keys and values to cache. A 4-D boolean `attention_mask` [B,
1, W, K] (True = attend) and `position_ids` are used as given (the inputs LLaDA2's `generate` passes).
`block_length` defaults to the config's `block_length` (32, LLaDA2's generate default).

Model-side protocol (see `mdlm_eval.models.block_causal`): `block_causal`, `trained_block_length`; `model(x[:, s:e],
attention_mask=m[:, :e], past_key_values=pkv, window_start=s, use_cache=...)` attends cached positions [0, s) ++ the
window (++ cached positions past the window when `pkv` and `m` cover them: a sub-block window reads the rest of its
block from the cache); `use_cache=True` returns the fed window's per-layer (K, V), K rotated; `logits_range=(start,
end)` gives the logits of those absolute positions only.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_layers import GradientCheckpointingLayer

from mdlm_eval.models.block_causal import run_window, window_inputs, window_keys
from mdlm_eval.models.llada.modeling_llada import LladaOutput, RMSNorm, attend, rotary_tables, rotate

from .configuration_llada2 import Llada2MoeConfig


class Llada2MLP(nn.Module):
    """SwiGLU: down_proj(silu(gate_proj(x)) * up_proj(x)); the dense layers, every expert and the shared ones."""

    def __init__(self, hidden: int, inner: int):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, inner, bias=False)
        self.up_proj = nn.Linear(hidden, inner, bias=False)
        self.down_proj = nn.Linear(inner, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Llada2Gate(nn.Module):
    """The router: (expert ids [n, k], weights [n, k] float32) per token, as described in the module docstring."""

    def __init__(self, config: Llada2MoeConfig):
        super().__init__()
        self.top_k, self.n_group, self.topk_group = config.num_experts_per_tok, config.n_group, config.topk_group
        self.routed_scaling_factor = config.routed_scaling_factor
        self.weight = nn.Parameter(torch.empty(config.num_experts, config.hidden_size))
        self.register_buffer("expert_bias", torch.zeros(config.num_experts))  # in the checkpoints' state dict

    def forward(self, x: torch.Tensor):
        cdt = torch.promote_types(x.dtype, torch.float32)
        scores = torch.sigmoid(F.linear(x.to(cdt), self.weight.to(cdt)))
        biased = scores + self.expert_bias
        n, experts = biased.shape
        groups = biased.view(n, self.n_group, -1).topk(2, dim=-1).values.sum(-1)  # [n, n_group]
        kept = torch.zeros_like(groups).scatter_(1, groups.topk(self.topk_group, dim=-1, sorted=False).indices, 1)
        kept = kept.bool()[:, :, None].expand(n, self.n_group, experts // self.n_group).reshape(n, experts)
        ids = biased.masked_fill(~kept, float("-inf")).topk(self.top_k, dim=-1).indices
        weights = scores.gather(1, ids)
        if self.top_k > 1:
            weights = weights / (weights.sum(-1, keepdim=True) + 1e-20)
        return ids, weights * self.routed_scaling_factor


class Llada2SparseMoe(nn.Module):
    """Routed experts plus shared experts (one MLP of `moe_intermediate_size * num_shared_experts`)."""

    def __init__(self, config: Llada2MoeConfig):
        super().__init__()
        inner = config.moe_intermediate_size
        self.experts = nn.ModuleList([Llada2MLP(config.hidden_size, inner) for _ in range(config.num_experts)])
        self.gate = Llada2Gate(config)
        self.shared_experts = (Llada2MLP(config.hidden_size, inner * config.num_shared_experts)
                               if config.num_shared_experts is not None else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, w, d = x.shape
        flat = x.reshape(-1, d)
        ids, weights = self.gate(flat)
        k = ids.shape[1]
        # (token, slot) pairs sorted by expert; each expert runs once on its tokens (one host sync per layer)
        order = ids.view(-1).argsort()
        counts = torch.bincount(ids.view(-1), minlength=len(self.experts)).tolist()
        chunks = flat[order // k].split(counts)
        done = [expert(chunk) for expert, chunk in zip(self.experts, chunks) if chunk.shape[0]]
        outs = torch.cat(done) if done else flat.new_zeros(0, d)
        out = torch.empty_like(outs).index_put((order,), outs)  # back to (token, slot) order
        y = (out.view(-1, k, d).to(weights.dtype) * weights[..., None]).sum(1).to(x.dtype).view(b, w, d)
        return y if self.shared_experts is None else y + self.shared_experts(x)


class Llada2Attention(nn.Module):
    def __init__(self, config: Llada2MoeConfig):
        super().__init__()
        self.n_heads, self.kv_heads, self.head_dim = (config.num_attention_heads, config.num_key_value_heads,
                                                      config.head_dim)
        self.rope_dim = config.rope_dim
        self.query_key_value = nn.Linear(config.hidden_size, (self.n_heads + 2 * self.kv_heads) * self.head_dim,
                                         bias=config.use_qkv_bias)
        if config.use_qk_norm:
            self.query_layernorm = RMSNorm(self.head_dim, config.rms_norm_eps)
            self.key_layernorm = RMSNorm(self.head_dim, config.rms_norm_eps)
        self.use_qk_norm = config.use_qk_norm
        self.dense = nn.Linear(self.n_heads * self.head_dim, config.hidden_size, bias=config.use_bias)

    def _rope(self, x, cos, sin):
        r = self.rope_dim
        return torch.cat([rotate(x[..., :r], cos, sin), x[..., r:]], dim=-1)

    def forward(self, x, cos, sin, mask, past=None, window_start=0):
        b, w, _ = x.shape
        qkv = self.query_key_value(x).view(b, w, self.n_heads + 2 * self.kv_heads, self.head_dim)
        q, k, v = (t.transpose(1, 2) for t in qkv.split([self.n_heads, self.kv_heads, self.kv_heads], dim=2))
        if self.use_qk_norm:
            q, k = self.query_layernorm(q), self.key_layernorm(k)
        y, present = attend(self._rope(q, cos, sin), self._rope(k, cos, sin), v, mask, past, window_start)
        return self.dense(y), present


class Llada2DecoderLayer(GradientCheckpointingLayer):
    """One block; `gradient_checkpointing_enable()` recomputes it in backward."""

    def __init__(self, config: Llada2MoeConfig, index: int):
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.attention = Llada2Attention(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = (Llada2SparseMoe(config) if config.is_moe_layer(index)
                    else Llada2MLP(config.hidden_size, config.intermediate_size))

    def forward(self, x, cos, sin, mask, past=None, window_start=0):
        h, present = self.attention(self.input_layernorm(x), cos, sin, mask, past, window_start)
        x = x + h
        return x + self.mlp(self.post_attention_layernorm(x)), present


class Llada2Model(nn.Module):
    """LLaDA2's `model` submodule, parameter names as in the checkpoints."""

    def __init__(self, config: Llada2MoeConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList([Llada2DecoderLayer(config, i) for i in range(config.num_hidden_layers)])
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)


class Llada2MoeModelLM(PreTrainedModel):
    """Mask predictor: token ids (mask id 156895 at masked positions) -> logits for every position, attention
    block-causal with blocks of `block_length` (default: the config's `block_length`, 32)."""

    config_class = Llada2MoeConfig
    base_model_prefix = "model"
    _no_split_modules = ["Llada2DecoderLayer"]
    supports_gradient_checkpointing = True
    block_causal = True
    supports_block_cache = True  # windows with past_key_values and logits_range: the loop's exact block cache

    def __init__(self, config: Llada2MoeConfig):
        super().__init__(config)
        # LLaDA2.1 was trained to re-write committed tokens (commit `edit`); LLaDA2.0 was not
        self.token_editing = config.model_type == "llada21_moe" or bool(getattr(config, "token_editing", False))
        self.model = Llada2Model(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    @property
    def trained_block_length(self) -> int:
        return self.config.trained_block_length

    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, RMSNorm):
            nn.init.ones_(module.weight)
        elif isinstance(module, Llada2Gate):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            nn.init.zeros_(module.expert_bias)

    def get_input_embeddings(self):
        return self.model.word_embeddings

    def set_input_embeddings(self, value):
        self.model.word_embeddings = value

    def get_output_embeddings(self):
        return self.lm_head

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
    ) -> LladaOutput:
        cfg = self.config
        b, w = input_ids.shape
        block_length = int(block_length or self.trained_block_length)
        if past_key_values is None and window_start > 0:
            raise ValueError(f"a window starting at {window_start} needs past_key_values for positions before it")
        keys = window_keys(past_key_values, attention_mask, window_start, w)
        positions, mask = window_inputs(attention_mask, position_ids, window_start, w, keys, block_length, b,
                                        input_ids.device)
        x = self.model.word_embeddings(input_ids)
        cos, sin = rotary_tables(positions, cfg.rope_dim, cfg.rope_theta, x.dtype)
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)  # LLaDA2's rotary embedding returns them in the model dtype
        x, presents = run_window(self.model.layers, x, cos, sin, mask, past_key_values, keys, window_start,
                                 logits_range)
        logits = self.lm_head(self.model.norm(x))
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # the reference's `logits.float()`
        return LladaOutput(logits=logits, past_key_values=presents if use_cache else None)
