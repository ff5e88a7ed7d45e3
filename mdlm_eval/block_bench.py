"""`make bench`: the block-diffusion row. A block-causal model with the bench model's sizes (LLaDA-8B's cost
profile: 2 layers of width 128, SwiGLU 17,536, vocabulary 7,936) in SDAR's architecture, random weights, decoded
with `llada2` (blocks of 32, 32 steps per block, tau 0.95) on an 800-token prompt: the loop's exact block cache
(a store pass per finished block, each pass over the block alone) against the same decode uncached (every pass
over the whole canvas; LLaDA2's `generate` feeds it up to the block's end), same tokens."""
from __future__ import annotations

import time

import torch
from torch import nn

from mdlm_eval import decode
from mdlm_eval.throughput import bench_ids, prompts, tokens_to_eos


def block_causal_bench_model(vocab: int = 7936, seed: int = 0):
    from mdlm_eval.models.sdar import SDARConfig, SDARForCausalLM

    mask_id, eos_id = bench_ids(vocab)
    config = SDARConfig(vocab_size=vocab, hidden_size=128, intermediate_size=17_536, num_hidden_layers=2,
                        num_attention_heads=1, num_key_value_heads=1, head_dim=128, block_size=32,
                        mask_token_id=mask_id, eos_token_id=eos_id, pad_token_id=eos_id)
    torch.manual_seed(seed)
    return SDARForCausalLM(config).eval()


class Uncached(nn.Module):
    """The model without `supports_block_cache`: the loop then feeds the whole canvas at every pass."""

    block_causal = True

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.config, self.trained_block_length = model, model.config, model.trained_block_length
        self.logits_lead = getattr(model, "logits_lead", 0)  # Fast-dLLM v2: shifted logits
        self.token_editing = getattr(model, "token_editing", False)  # LLaDA2.1

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)


def block_diffusion_lines(gen_length: int = 256, prompt_length: int = 800, model=None, ids=None,
                          decoder: str = "llada2", mask_id: int | None = None, eos_id: int | None = None,
                          label: str | None = None) -> list[str]:
    """The row for `model` (default: the bench's random SDAR-architecture model, on a random `prompt_length`-token
    prompt) decoding `ids` [1, P] with `decoder`: cached against uncached, same tokens required."""
    if model is None:
        model = block_causal_bench_model()
        mask_id, eos_id = bench_ids(model.config.vocab_size)
        ids, _ = prompts(1, length=prompt_length, vocab=model.config.vocab_size)
        label = (f"SDAR-architecture random model with the bench model's sizes, {decoder} (blocks of 32, tau 0.95), "
                 f"prompt {prompt_length}")
    results = {}
    for name, m in (("cached", model), ("uncached", Uncached(model))):
        start = time.perf_counter()
        out = decode(m, ids, decoder, gen_length=gen_length, mask_id=mask_id, eos_token_ids=[eos_id])
        results[name] = (time.perf_counter() - start, out)
    (t_c, cached), (t_u, uncached) = results["cached"], results["uncached"]
    if not torch.equal(cached.sequences, uncached.sequences):
        raise SystemExit("the block cache and the uncached loop gave different tokens")
    tokens = tokens_to_eos(cached.sequences[:, ids.shape[1]:], [eos_id])
    lines = [f"block diffusion: {label}, L={gen_length}, batch 1; identical tokens"]
    for name, t, out in (("block cache", t_c, cached), ("uncached", t_u, uncached)):
        lines.append(f"  {name:12} {t:7.2f} s  {out.nfe:4d} fwd  {1000 * t / out.nfe:7.1f} ms/fwd  "
                     f"{tokens / out.nfe:5.2f} tok/fwd  {tokens / t:6.1f} tok/s")
    lines.append(f"  a cached pass costs {t_c / cached.nfe / (t_u / uncached.nfe):.2f}x of an uncached one "
                 f"(store passes included); {t_u / t_c:.1f}x tokens/s")
    return lines
