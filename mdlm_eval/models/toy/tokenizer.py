"""The toy's character-level tokenizer, with LLaDA's special tokens and chat template.

Built with the `tokenizers` library (a BPE model without merges = one token per character) and wrapped as a
`PreTrainedTokenizerFast`. Ids 0-6 are the special tokens in LLaDA's roles and names; a few multi-character
pieces used by the chat template and the answer formats are single (non-special) tokens; then printable ASCII.
"""
from __future__ import annotations

from tokenizers import AddedToken, Tokenizer, decoders
from tokenizers.models import BPE
from transformers import PreTrainedTokenizerFast

EOS = "<|endoftext|>"  # end of sequence, also the pad token (LLaDA: 126081)
BOS = "<|startoftext|>"  # LLaDA: 126080
MASK = "<|mdm_mask|>"  # LLaDA: 126336
EOT = "<|eot_id|>"  # end of turn, LLaDA: 126348
START_HEADER = "<|start_header_id|>"
END_HEADER = "<|end_header_id|>"
UNK = "<|unk|>"
SPECIAL_TOKENS = [EOS, BOS, MASK, EOT, START_HEADER, END_HEADER, UNK]
# Multi-character pieces that are one token each: chat roles and the answer formats of the toy tasks.
PIECES = ["user", "assistant", "system", "<answer>", "</answer>", "<reasoning>", "</reasoning>", "\\boxed{"]
CHARS = ["\n", "\t"] + [chr(c) for c in range(32, 127)]

# LLaDA-8B-Instruct's template (Llama-3 form): content `| trim`med, BOS before the first message.
CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}"
    "{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """The toy tokenizer: specials at ids 0-6, then PIECES, then characters; left padding with EOS."""
    vocab: dict[str, int] = {}
    for tok in SPECIAL_TOKENS + PIECES + CHARS:
        vocab[tok] = len(vocab)
    core = Tokenizer(BPE(vocab=vocab, merges=[], unk_token=UNK))
    core.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    core.add_tokens([AddedToken(t, special=False, normalized=False) for t in PIECES])
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=EOS,
        mask_token=MASK,
        unk_token=UNK,
        additional_special_tokens=[EOT, START_HEADER, END_HEADER],
        padding_side="left",
        clean_up_tokenization_spaces=False,
        model_max_length=512,
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def chat_prompt(message: str) -> str:
    """The chat-template rendering of one user message with the generation prompt (what apply_chat_template gives)."""
    return (f"{BOS}{START_HEADER}user{END_HEADER}\n\n{message.strip()}{EOT}"
            f"{START_HEADER}assistant{END_HEADER}\n\n")
