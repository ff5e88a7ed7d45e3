"""A tiny Dream checkpoint folder for tests: the `dream_tiny` fixture's config and weights (Dream's own code made
them, see its README) and a character-level tokenizer with Dream's special tokens and a Qwen-style chat template
(the toy tokenizer's pieces and characters, Dream's specials in place of LLaDA's)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders
from tokenizers.models import BPE
from transformers import PreTrainedTokenizerFast

from mdlm_eval.models.toy.tokenizer import CHARS, PIECES

FIXTURE = Path(__file__).parent / "fixtures" / "dream_tiny"
EOS, BOS, MASK, UNK = "<|endoftext|>", "<|beginoftext|>", "<|mask|>", "<|unk|>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
SPECIALS = [EOS, BOS, MASK, IM_START, IM_END, UNK]  # ids 0-5; the fixture's config: pad = eos = 0, mask = 2
# Dream-v0-Instruct's template (Qwen2.5 form): a default system turn, `<|im_start|>role\n...<|im_end|>\n`.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def dream_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate(SPECIALS + PIECES + CHARS)}
    core = Tokenizer(BPE(vocab=vocab, merges=[], unk_token=UNK))
    core.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    core.add_tokens([AddedToken(t, special=False, normalized=False) for t in PIECES])
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=EOS,
                                  mask_token=MASK, unk_token=UNK, additional_special_tokens=[IM_START, IM_END],
                                  padding_side="left", clean_up_tokenization_spaces=False, model_max_length=4096)
    tok.chat_template = CHAT_TEMPLATE
    return tok


def make_dream_folder(folder: Path, **config_changes) -> Path:
    """A loadable Dream folder (no modeling code) from the fixture, with `config_changes` applied."""
    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads((FIXTURE / "config.json").read_text())
    config.update(config_changes)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    shutil.copy(FIXTURE / "model.safetensors", folder / "model.safetensors")
    generation = {"alg": "origin", "alg_temp": None, "bos_token_id": 1, "eos_token_id": 0, "eps": 0.001,
                  "mask_token_id": None, "pad_token_id": 0, "steps": 512, "temperature": 0.0, "top_k": None,
                  "top_p": None}  # Dream-v0-Instruct-7B's generation_config.json, this vocabulary's ids
    (folder / "generation_config.json").write_text(json.dumps(generation, indent=2))
    dream_tokenizer().save_pretrained(folder)
    return folder
