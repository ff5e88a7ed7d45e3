"""Configuration of the native LLaDA model: the fields of LLaDA's own `config.json`, read as they are."""
from __future__ import annotations

from transformers import PretrainedConfig


class LladaConfig(PretrainedConfig):
    """LLaDA-8B's `config.json` keys (OLMo style: d_model, n_heads, n_layers, ...). Unknown keys are kept."""

    model_type = "llada"

    def __init__(
        self,
        d_model: int = 4096,
        n_heads: int = 32,
        n_kv_heads: int | None = None,
        n_layers: int = 32,
        mlp_hidden_size: int | None = 12288,
        mlp_ratio: int = 4,
        activation_type: str = "silu",
        block_type: str = "llama",
        layer_norm_type: str = "rms",
        rms_norm_eps: float = 1e-5,
        rope: bool = True,
        rope_theta: float = 500000.0,
        alibi: bool = False,
        attention_layer_norm: bool = False,
        include_bias: bool = False,
        include_qkv_bias: bool | None = False,
        layer_norm_with_affine: bool = True,
        bias_for_layer_norm: bool | None = False,
        input_emb_norm: bool = False,
        scale_logits: bool = False,
        weight_tying: bool = False,
        vocab_size: int = 126464,
        embedding_size: int | None = 126464,
        block_group_size: int = 1,
        mask_token_id: int | None = 126336,
        eos_token_id: int | None = 126081,
        pad_token_id: int | None = 126081,
        **kwargs,
    ):
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads
        self.n_layers = n_layers
        self.mlp_hidden_size = mlp_hidden_size
        self.mlp_ratio = mlp_ratio
        self.activation_type = activation_type
        self.block_type = block_type
        self.layer_norm_type = layer_norm_type
        self.rms_norm_eps = rms_norm_eps
        self.rope = rope
        self.rope_theta = rope_theta
        self.alibi = alibi
        self.attention_layer_norm = attention_layer_norm
        self.include_bias = include_bias
        self.include_qkv_bias = include_qkv_bias
        self.layer_norm_with_affine = layer_norm_with_affine
        self.bias_for_layer_norm = bias_for_layer_norm
        self.input_emb_norm = input_emb_norm
        self.scale_logits = scale_logits
        self.weight_tying = weight_tying
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.block_group_size = block_group_size
        self.mask_token_id = mask_token_id
        kwargs["tie_word_embeddings"] = weight_tying  # transformers must tie only what LLaDA ties
        kwargs.pop("use_cache", None)
        super().__init__(eos_token_id=eos_token_id, pad_token_id=pad_token_id, **kwargs)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def ff_hidden(self) -> int:
        return self.mlp_hidden_size if self.mlp_hidden_size is not None else self.mlp_ratio * self.d_model

    def unsupported(self) -> str | None:
        """The first setting this implementation does not cover (LLaDA-8B and LLaDA-1.5 use none of them)."""
        wanted = {"block_type": "llama", "layer_norm_type": "rms", "activation_type": "silu", "rope": True,
                  "alibi": False, "attention_layer_norm": False, "block_group_size": 1}
        for key, value in wanted.items():
            if getattr(self, key) != value:
                return f"{key}={getattr(self, key)!r} (the native model implements {key}={value!r})"
        if self.layer_norm_with_affine and self.bias_for_layer_norm:
            return "bias_for_layer_norm=True (the native model has no layer-norm bias)"
        return None
