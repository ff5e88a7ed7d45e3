"""Configuration of the toy masked diffusion LM (`model_type = "mdlm_toy"`).

Self-contained (imports only transformers) so that a copy of this file inside a checkpoint folder loads through
`AutoConfig.from_pretrained(folder, trust_remote_code=True)`.
"""
from transformers import PretrainedConfig


class MdlmToyConfig(PretrainedConfig):
    """A small LLaDA-like bidirectional transformer: RMSNorm, SwiGLU, rotary positions, no causal mask.

    Token roles follow LLaDA: `mask_token_id` (`<|mdm_mask|>`), `eos_token_id` (`<|endoftext|>`, also the pad),
    `eot_token_id` (`<|eot_id|>`), `bos_token_id` (`<|startoftext|>`). `gen_length` is the answer canvas the toy
    was trained with (answers padded with EOS to this length); `block_length` the block that a
    semi-autoregressive decoder preset means on it (a quarter of the canvas).

    `block_causal=True` makes it a block-diffusion model (BD3-LM / SDAR style, the harness's block_causal module):
    a query attends its own block and the blocks before it, blocks of `trained_block_length` real positions.
    """

    model_type = "mdlm_toy"

    def __init__(
        self,
        vocab_size: int = 128,
        hidden_size: int = 256,
        intermediate_size: int = 704,
        num_hidden_layers: int = 6,
        num_attention_heads: int = 8,
        max_position_embeddings: int = 512,
        rope_theta: float = 10000.0,
        rms_norm_eps: float = 1e-6,
        initializer_range: float = 0.02,
        mask_token_id: int = 0,
        eos_token_id: int = 1,
        eot_token_id: int = 2,
        bos_token_id: int = 3,
        pad_token_id: int = 1,
        gen_length: int = 32,
        block_length: int = 8,
        tie_word_embeddings: bool = False,
        block_causal: bool = False,
        trained_block_length: int = 8,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.max_position_embeddings = max_position_embeddings
        self.rope_theta = rope_theta
        self.rms_norm_eps = rms_norm_eps
        self.initializer_range = initializer_range
        self.mask_token_id = mask_token_id
        self.eot_token_id = eot_token_id
        self.gen_length = gen_length
        self.block_length = block_length
        self.block_causal = block_causal
        self.trained_block_length = trained_block_length
        super().__init__(
            eos_token_id=eos_token_id,
            bos_token_id=bos_token_id,
            pad_token_id=pad_token_id,
            tie_word_embeddings=tie_word_embeddings,
            **kwargs,
        )
