"""SDAR's, LLaDA2's and Fast-dLLM v2's own modeling code (`native=false`) called the way their `generate` calls it.

SDAR's `modeling_sdar.py` takes the block-causal mask from its caller (`generate.py`: `tril(ones(n, n))` repeated
`block_length` times each way, with `position_ids`) and fails without one; `BlockDiffusionOwnCode` builds it for
every forward from the padding mask, as the native model does (`mdlm_eval.models.block_causal`), with positions
`cumsum(attention_mask) - 1`. LLaDA2's `modeling_llada2_moe.py` takes the same mask additive (its `generate`
passes the log of the 0/1 block mask in the model's dtype): 0 where a query attends, the dtype's lowest value
elsewhere. Fast-dLLM v2's `modeling.py` builds its own mask from `block_size` and token
indices and ignores `attention_mask`, so a left-padded row is not the row alone there (use the native model).
"""
from __future__ import annotations

import torch
from torch import nn

from mdlm_eval.models.block_causal import block_causal_mask, real_positions


class BlockDiffusionOwnCode(nn.Module):
    """A block-diffusion model from its own code; `block_length` defaults to the checkpoint's trained block size.
    Logits at padded positions are set to 0 (no decoder reads them)."""

    def __init__(self, model: nn.Module, family: str):
        super().__init__()
        self.model = model
        self.config = model.config
        self.family = family

    @property
    def trained_block_length(self) -> int:
        config = self.config  # SDAR: block_size; Fast-dLLM v2: bd_size; LLaDA2: none (its generate's 32)
        return int(getattr(config, "block_size", None) or getattr(config, "bd_size", None)
                   or getattr(config, "block_length", None) or 32)

    block_causal = True

    def forward(self, input_ids, attention_mask=None, block_length=None, **kwargs):
        b, t = input_ids.shape
        block_length = int(block_length or self.trained_block_length)
        if self.family == "fast_dllm_qwen":
            out = self.model(input_ids, block_size=block_length)
        else:
            mask = block_causal_mask(attention_mask, block_length, 0, t, b, input_ids.device)
            mask = mask | torch.eye(t, dtype=torch.bool, device=input_ids.device)  # padded rows: no empty softmax
            if self.family == "llada2":
                dtype = self.model.get_input_embeddings().weight.dtype
                mask = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask,
                                                                                           torch.finfo(dtype).min)
            out = self.model(input_ids, attention_mask=mask, position_ids=real_positions(attention_mask, t, b,
                                                                                           input_ids.device))
        if attention_mask is not None:
            out.logits = out.logits.masked_fill(attention_mask[..., None] == 0, 0.0)
        return out
