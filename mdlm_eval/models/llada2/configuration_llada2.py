"""Configuration of the native LLaDA2 MoE model: the fields of LLaDA2's own `config.json`, read as they are."""
from __future__ import annotations

from transformers import PretrainedConfig

from mdlm_eval.models.block_causal import unsupported_rope_or_act


class Llada2MoeConfig(PretrainedConfig):
    """LLaDA2.x's `config.json` keys (Ling/Bailing MoE v2 style). Defaults are those of the checkpoint's
    `configuration_llada2_moe.py`; unknown keys are kept."""

    model_type = "llada2_moe"

    def __init__(
        self,
        vocab_size: int = 30592,
        hidden_size: int = 1024,
        intermediate_size: int | None = None,
        num_hidden_layers: int = 24,
        num_attention_heads: int = 16,
        num_key_value_heads: int = 0,
        head_dim: int | None = None,
        hidden_act: str = "silu",
        use_qkv_bias: bool = False,
        use_qk_norm: bool = True,
        use_bias: bool = True,
        rms_norm_eps: float = 1e-5,
        norm_head: bool = False,
        tie_word_embeddings: bool = False,
        max_position_embeddings: int = 16384,
        rope_theta: float = 10000.0,
        rope_scaling: dict | None = None,
        partial_rotary_factor: float = 0.5,
        num_experts: int | None = 16,
        num_shared_experts: int | None = 0,
        num_experts_per_tok: int = 2,
        n_group: int = 8,
        topk_group: int = 4,
        routed_scaling_factor: float = 2.5,
        moe_intermediate_size: int | None = None,
        first_k_dense_replace: int = 0,
        initializer_range: float = 0.02,
        pad_token_id: int | None = 126081,
        block_length: int = 32,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads
        self.head_dim = head_dim or hidden_size // num_attention_heads
        self.hidden_act = hidden_act
        self.use_qkv_bias = use_qkv_bias
        self.use_qk_norm = use_qk_norm
        self.use_bias = use_bias
        self.rms_norm_eps = rms_norm_eps
        self.norm_head = norm_head
        self.max_position_embeddings = max_position_embeddings
        self.rope_theta = rope_theta
        if rope_scaling is not None:  # transformers 5 keeps it as `rope_parameters` (and warns on None)
            self.rope_scaling = rope_scaling
        self.partial_rotary_factor = partial_rotary_factor
        self.num_experts = num_experts
        self.num_shared_experts = num_shared_experts
        self.num_experts_per_tok = num_experts_per_tok
        self.n_group = n_group
        self.topk_group = topk_group
        self.routed_scaling_factor = routed_scaling_factor
        self.moe_intermediate_size = moe_intermediate_size
        self.first_k_dense_replace = first_k_dense_replace
        self.initializer_range = initializer_range
        self.block_length = block_length  # LLaDA2's generate default (block_length=32); configs do not name it
        kwargs.pop("use_cache", None)
        super().__init__(pad_token_id=pad_token_id, tie_word_embeddings=tie_word_embeddings, **kwargs)

    @property
    def rope_dim(self) -> int:
        """Rotated dimensions per head: int(head_dim * partial_rotary_factor) (the rest pass through)."""
        return int(self.head_dim * self.partial_rotary_factor)

    @property
    def trained_block_length(self) -> int:
        return int(self.block_length)

    def is_moe_layer(self, index: int) -> bool:
        return self.num_experts is not None and index >= self.first_k_dense_replace

    def unsupported(self) -> str | None:
        """The first setting this implementation does not cover (the published LLaDA2.x checkpoints use none)."""
        if (why := unsupported_rope_or_act(self)) is not None:
            return why
        if self.tie_word_embeddings:
            return "tie_word_embeddings=True (the native model has its own lm_head)"
        if self.num_experts is not None and self.num_experts % self.n_group:
            return f"num_experts={self.num_experts} not divisible by n_group={self.n_group}"
        return None


class Llada21MoeConfig(Llada2MoeConfig):
    """LLaDA2.1 under the model_type that public copies of its code register (ZHZisZZ/dllm `llada21_moe`); the
    architecture is LLaDA2's. The hub's LLaDA2.1 checkpoints keep `llada2_moe`: they are told apart by their own
    `generate`, which takes `editing_threshold` (`mdlm_eval.models.loading.own_code_edits`)."""

    model_type = "llada21_moe"

    def __init__(self, **kwargs):  # its own __init__: transformers would otherwise give the subclass a generated one
        super().__init__(**kwargs)

