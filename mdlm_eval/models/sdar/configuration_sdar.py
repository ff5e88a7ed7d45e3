"""Configuration of the native SDAR model: the fields of SDAR's own `config.json`, read as they are."""
from __future__ import annotations

import warnings

from transformers import PretrainedConfig

from mdlm_eval.models.block_causal import unsupported_rope_or_act


class SDARConfig(PretrainedConfig):
    """SDAR's `config.json` keys (Qwen3 style: hidden_size, num_attention_heads, head_dim, ...; `block_size`, the
    block length it was trained with; `mask_token_id`). Unknown keys are kept. Defaults are those of SDAR's own
    `configuration_sdar.py` (JetAstra/SDAR `training/model/SDAR-*-Chat`)."""

    model_type = "sdar"
    # the architecture's fixed choices (`FastDLLMV2Config` differs in each)
    qk_norm = True  # RMS norms over each head's channels on q and k
    norm_weight_in_float32 = True  # flash-attn's rms_norm_fn: the weight applied before the cast back
    shift_logits = False  # output i predicts token i

    @property
    def qkv_bias(self) -> bool:
        return bool(self.attention_bias)

    @property
    def o_bias(self) -> bool:
        return bool(self.attention_bias)

    @property
    def trained_block_length(self) -> int:
        return int(self.block_size)

    def __init__(
        self,
        vocab_size: int = 151936,
        hidden_size: int = 4096,
        intermediate_size: int = 22016,
        num_hidden_layers: int = 32,
        num_attention_heads: int = 32,
        num_key_value_heads: int | None = 32,
        head_dim: int | None = 128,
        hidden_act: str = "silu",
        max_position_embeddings: int = 32768,
        initializer_range: float = 0.02,
        rms_norm_eps: float = 1e-6,
        tie_word_embeddings: bool = False,
        rope_theta: float = 10000.0,
        rope_scaling: dict | None = None,
        attention_bias: bool = False,
        use_sliding_window: bool = False,
        sliding_window: int | None = 4096,
        max_window_layers: int = 28,
        attention_dropout: float = 0.0,
        block_size: int = 4,
        mask_token_id: int | None = 151669,
        pad_token_id: int | None = None,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads or num_attention_heads
        self.head_dim = head_dim or hidden_size // num_attention_heads
        self.hidden_act = hidden_act
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.rms_norm_eps = rms_norm_eps
        self.rope_theta = rope_theta
        if rope_scaling is not None:  # transformers 5 keeps it as `rope_parameters` and warns on setting it
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                self.rope_scaling = rope_scaling
        self.attention_bias = attention_bias
        self.use_sliding_window = use_sliding_window  # kept, unused: SDAR's attention never reads it at inference
        self.sliding_window = sliding_window
        self.max_window_layers = max_window_layers
        self.attention_dropout = attention_dropout
        self.block_size = block_size
        self.mask_token_id = mask_token_id
        kwargs.pop("use_cache", None)
        kwargs.pop("attn_implementation", None)  # SDAR's "flex_attention" is for training; the native model runs SDPA
        super().__init__(tie_word_embeddings=tie_word_embeddings, pad_token_id=pad_token_id, **kwargs)

    def unsupported(self) -> str | None:
        """The first setting this implementation does not cover (the SDAR and TraDo checkpoints use none)."""
        if (why := unsupported_rope_or_act(self)) is not None:
            return why
        if self.num_attention_heads % self.num_key_value_heads:
            return (f"num_attention_heads={self.num_attention_heads} with num_key_value_heads="
                    f"{self.num_key_value_heads} (query heads must be a multiple of key/value heads)")
        return None


class FastDLLMV2Config(SDARConfig):
    """Fast-dLLM v2's `config.json` (model_type "Fast_dLLM_Qwen": Qwen2.5's keys plus `bd_size`, the block length
    it was trained with, 32). Its model (NVlabs Fast-dLLM `v2/`, the hub's `modeling.py`) is a Qwen2 block:
    q/k/v with bias, o_proj without, no q/k norms, Qwen2's RMS norm (cast back before the weight), and logits
    shifted like Dream's (its `generate` reads `cat([logits[:, :1], logits[:, :-1]])`). Mask id 151665."""

    model_type = "Fast_dLLM_Qwen"
    qk_norm = False
    norm_weight_in_float32 = False
    shift_logits = True

    def __init__(self, bd_size: int = 32, head_dim: int | None = None, mask_token_id: int | None = 151665,
                 **kwargs):
        kwargs.pop("block_size", None)
        self.bd_size = bd_size
        super().__init__(head_dim=head_dim, block_size=bd_size, mask_token_id=mask_token_id, **kwargs)

    @property
    def qkv_bias(self) -> bool:
        return True

    @property
    def o_bias(self) -> bool:
        return False
