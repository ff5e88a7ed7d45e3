"""A tiny native-LLaDA checkpoint folder for tests: random weights in LLaDA's parameter names (`model_type`
"llada", 2 layers, grouped-query attention) and the toy tokenizer, which has LLaDA's special tokens and chat
template."""
from __future__ import annotations

from pathlib import Path

import torch

from mdlm_eval.models.llada import LladaConfig, LladaModelLM
from mdlm_eval.models.toy.tokenizer import build_tokenizer


def make_llada_folder(folder: Path, seed: int = 0) -> Path:
    """A loadable LLaDA folder (no modeling code: the native model loads it)."""
    tok = build_tokenizer()
    vocab = len(tok)
    config = LladaConfig(d_model=32, n_heads=4, n_kv_heads=2, n_layers=2, mlp_hidden_size=48, vocab_size=vocab,
                         embedding_size=vocab, mask_token_id=tok.mask_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.eos_token_id, max_sequence_length=512)
    torch.manual_seed(seed)
    LladaModelLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
