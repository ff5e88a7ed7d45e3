"""A tiny random DiffusionGemma (transformers' `DiffusionGemmaForBlockDiffusion`) for tests: 2 layers (one sliding,
one full attention), 4 experts (2 per token), canvases of 8 tokens, a one-layer vision tower of width 16; weights
drawn at `initializer_range` 1.0 so that the logits are peaked (mean token entropy about 0.5 nats, where the
default 0.02 gives a near-uniform 4.1) and the stopping rule has something to stop on."""
from __future__ import annotations

from pathlib import Path

import torch

CANVAS = 8


def tiny_config(vocab_size: int = 64, eos_token_id: int = 1, pad_token_id: int = 0, sliding_window: int = 8):
    from transformers import DiffusionGemmaConfig

    text = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, head_dim=16, global_head_dim=16, num_experts=4, top_k_experts=2,
                moe_intermediate_size=32, sliding_window=sliding_window,
                layer_types=["sliding_attention", "full_attention"], pad_token_id=pad_token_id,
                eos_token_id=eos_token_id, bos_token_id=2, initializer_range=1.0)
    vision = dict(model_type="gemma4_vision", hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                  num_attention_heads=1, num_key_value_heads=1, head_dim=16, position_embedding_size=64, patch_size=4)
    return DiffusionGemmaConfig(text_config=text, vision_config=vision, canvas_length=CANVAS, initializer_range=1.0)


def tiny_model(seed: int = 0, dtype: torch.dtype = torch.float64, **config):
    """float64 by default, with the experts' plain loop (`grouped_mm` takes no float64): a row then gives the same
    logits alone and in a padded batch, as the exactness tests need."""
    from transformers import DiffusionGemmaForBlockDiffusion

    torch.manual_seed(seed)
    model = DiffusionGemmaForBlockDiffusion(tiny_config(**config)).to(dtype).eval()
    if dtype == torch.float64:
        model.config.get_text_config()._experts_implementation = "eager"
    return model


def make_diffusion_gemma_folder(folder: Path, seed: int = 0) -> Path:
    """The tiny model with the toy tokenizer (LLaDA's special tokens and chat template) as a model folder."""
    from mdlm_eval.models.toy.tokenizer import build_tokenizer

    tok = build_tokenizer()
    tiny_model(seed, vocab_size=len(tok), eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id
               ).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
