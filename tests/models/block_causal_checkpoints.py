"""Tiny native block-diffusion checkpoint folders for tests: random weights in SDAR's and LLaDA2's parameter names
and the toy tokenizer (LLaDA's special tokens and chat template), blocks of 4."""
from __future__ import annotations

from pathlib import Path

import torch

from mdlm_eval.models.toy.tokenizer import build_tokenizer

SIZES = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             head_dim=8, max_position_embeddings=512)


def _save(folder: Path, config_class, model_class, seed: int, **extra) -> Path:
    tok = build_tokenizer()
    config = config_class(vocab_size=len(tok), mask_token_id=tok.mask_token_id, eos_token_id=tok.eos_token_id,
                          pad_token_id=tok.eos_token_id, **SIZES, **extra)
    torch.manual_seed(seed)
    model_class(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def make_sdar_folder(folder: Path, seed: int = 0) -> Path:
    from mdlm_eval.models.sdar import SDARConfig, SDARForCausalLM

    return _save(folder, SDARConfig, SDARForCausalLM, seed, block_size=4)


def make_llada2_folder(folder: Path, seed: int = 0) -> Path:
    from mdlm_eval.models.llada2 import Llada2MoeConfig, Llada2MoeModelLM

    return _save(folder, Llada2MoeConfig, Llada2MoeModelLM, seed, block_length=4, num_experts=4,
                 num_shared_experts=1, num_experts_per_tok=2, n_group=2, topk_group=1, moe_intermediate_size=16,
                 first_k_dense_replace=1)


def make_llada21_folder(folder: Path, seed: int = 0) -> Path:
    """LLaDA2.1 under the model_type dllm's copies of its code name (`llada21_moe`): a model that edits."""
    from mdlm_eval.models.llada2 import Llada21MoeConfig, Llada2MoeModelLM

    return _save(folder, Llada21MoeConfig, Llada2MoeModelLM, seed, block_length=4, num_experts=4,
                 num_shared_experts=1, num_experts_per_tok=2, n_group=2, topk_group=1, moe_intermediate_size=16,
                 first_k_dense_replace=1)


def make_fast_dllm_v2_folder(folder: Path, seed: int = 0) -> Path:
    from mdlm_eval.models.sdar import FastDLLMV2Config, FastDLLMV2ForCausalLM

    return _save(folder, FastDLLMV2Config, FastDLLMV2ForCausalLM, seed, bd_size=4)
