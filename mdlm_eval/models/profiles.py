"""Model families: the token ids and logit conventions that differ between MDLM families.

LLaDA (model_type "llada"): mask 126336, EOS 126081, EOT 126348, logits aligned with positions.
Dream (model_type "Dream"): mask 151666, EOS `<|endoftext|>`; logits shifted right by one (AR initialisation:
the prediction for position i is output i-1, as Dream's generation code realigns them).
SDAR (model_type "sdar", TraDo too): mask from config.json (`mask_token_id`, 151669 in SDAR's), logits aligned.
Fast-dLLM v2 (model_type "Fast_dLLM_Qwen"): mask 151665 (its `generate`'s default), logits shifted like Dream's
(its `generate` reads `cat([logits[:, :1], logits[:, :-1]])`).
LLaDA2 (model_type "llada2_moe"; "llada21_moe" in public copies of LLaDA2.1's code): mask 156895 (`<|mask|>`, which LLaDA2's tokenizer does not declare), EOS 156892
(`<|endoftext|>`, LLaDA2's generate `eos_id`), end of turn `<|role_end|>`; logits aligned with positions.
End of turn (EOT) for every family: the token the tokenizer's chat template closes an assistant turn with
(`<|eot_id|>` LLaDA, `<|im_end|>` Dream, `<|role_end|>` LLaDA2), unless config.json names `eot_token_id`.
DiffusionGemma (model_type "diffusion_gemma"): no mask token (uniform-noise canvases), `mask_id` None.
Other families (the toy model among them) need a mask token in their config or tokenizer.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from jinja2 import TemplateError
from torch import nn

from mdlm_eval.errors import UsageError


@dataclass(frozen=True)
class Family:
    name: str
    shift_logits: bool = False
    mask_id: int | None = None  # used when neither config nor tokenizer names one
    mask_free: bool = False  # no mask token: the canvas is noised with uniform random tokens (DiffusionGemma)


FAMILIES = {
    "llada": Family("llada", mask_id=126336),
    "dream": Family("dream", shift_logits=True, mask_id=151666),
    "sdar": Family("sdar", mask_id=151669),
    "fast_dllm_qwen": Family("fast_dllm_qwen", shift_logits=True, mask_id=151665),
    "llada2_moe": Family("llada2", mask_id=156895),
    "llada21_moe": Family("llada2", mask_id=156895),
    "llada2": Family("llada2", mask_id=156895),
    "diffusion_gemma": Family("diffusion_gemma", mask_free=True),
    "generic": Family("generic"),
}


@dataclass(frozen=True)
class TokenIds:
    mask_id: int | None  # None: the family has no mask token (DiffusionGemma)
    eos_id: int
    eot_id: int | None

    def eos_ids_for(self, eos_policy: str) -> list[int]:
        """EOS ids a policy acts on: EOS and EOT for `confidence_eos_eot_inf` (LLaDA ranks both last); EOS
        alone otherwise (`logits_eos_inf` bans EOS, the EOSER references scale `tokenizer.eos_token_id`)."""
        if eos_policy == "confidence_eos_eot_inf" and self.eot_id is not None:
            return [self.eos_id, self.eot_id]
        return [self.eos_id]

    def stop_ids(self) -> list[int]:
        return [i for i in (self.eos_id, self.eot_id) if i is not None]


def family_of(config, override: str | None = None) -> Family:
    name = (override or getattr(config, "model_type", "") or "").lower()
    if override and name not in FAMILIES:
        raise UsageError(f"unknown model family '{override}'; choose one of {', '.join(FAMILIES)}")
    return FAMILIES.get(name, FAMILIES["generic"])


def token_ids(config, tokenizer, family: Family, mask_id: int | None = None) -> TokenIds:
    """Ids from the config, then the tokenizer, then the family's defaults; a missing mask id is an error (but for
    a family without a mask token, where a given one is)."""
    if family.mask_free:
        if mask_id is not None:
            raise UsageError(f"model family {family.name} has no mask token (its canvas starts from uniform random "
                             f"tokens); drop mask_id={mask_id}")
        return TokenIds(mask_id=None, eos_id=int(eos_of(config, tokenizer)), eot_id=end_of_turn_id(tokenizer))
    mask = mask_id if mask_id is not None else getattr(config, "mask_token_id", None)
    if mask is None:
        mask = tokenizer.mask_token_id if tokenizer.mask_token is not None else family.mask_id
    if mask is None:
        raise UsageError(
            f"model family '{getattr(config, 'model_type', '?')}' is unknown and names no mask token; "
            f"pass mask_id=ID or family={'|'.join(n for n in FAMILIES if n != 'generic')}"
        )
    eot = getattr(config, "eot_token_id", None)
    if eot is None:
        eot = end_of_turn_id(tokenizer)
    return TokenIds(mask_id=int(mask), eos_id=int(eos_of(config, tokenizer)), eot_id=eot)


def eos_of(config, tokenizer) -> int:
    """config.json's `eos_token_id` when it is one id, else the tokenizer's."""
    eos = getattr(config, "eos_token_id", None)
    return eos if isinstance(eos, int) else tokenizer.eos_token_id


END_OF_TURN_NAMES = ("<|eot_id|>", "<|im_end|>", "<|role_end|>")  # LLaDA / Llama-3, Dream / Qwen, LLaDA2 / Ling
_TURN_MARK = "MDLM-EVAL-TURN-END"


def end_of_turn_id(tokenizer) -> int | None:
    """The special token that closes an assistant turn in the chat template (`<|eot_id|>` for LLaDA,
    `<|im_end|>` for Dream), else the first of END_OF_TURN_NAMES the vocabulary has, else None."""
    special = {i for i, tok in getattr(tokenizer, "added_tokens_decoder", {}).items() if tok.special}
    if getattr(tokenizer, "chat_template", None):
        turn = [{"role": "user", "content": "?"}, {"role": "assistant", "content": _TURN_MARK}]
        try:
            text = tokenizer.apply_chat_template(turn, tokenize=False)
        except (ValueError, TypeError, TemplateError):  # a template that cannot render this turn: use the names
            text = ""
        if _TURN_MARK in text:
            after = tokenizer(text.split(_TURN_MARK, 1)[1], add_special_tokens=False)["input_ids"]
            if after and after[0] in special:
                return after[0]
    for name in END_OF_TURN_NAMES:
        i = tokenizer.convert_tokens_to_ids(name)
        if i is not None and i != tokenizer.unk_token_id:
            return i
    return None


class ShiftedLogits(nn.Module):
    """Dream's convention: realign so that logits[:, i] predicts token i, i.e. output i-1 (position 0 keeps its
    own), as Dream's `generation_utils` does: `torch.cat([logits[:, :1], logits[:, :-1]], dim=1)`.

    Block caches and `logits_range` pass through when the model has them: the logits of positions [s, e) are
    outputs [s-1, e-1), so a cached window must start one position before its logits (`logits_lead` = 1; the
    block-cache forwards feed windows that way)."""

    logits_lead = 1

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.config = model.config

    @property
    def supports_block_cache(self) -> bool:
        return bool(getattr(self.model, "supports_block_cache", False))

    @property
    def block_causal(self) -> bool:  # the block-diffusion protocol (`mdlm_eval.models.block_causal`) passes through
        return bool(getattr(self.model, "block_causal", False))

    @property
    def trained_block_length(self) -> int | None:
        return getattr(self.model, "trained_block_length", None)

    def forward(self, input_ids, attention_mask=None, past_key_values=None, use_cache=False, window_start=0,
                logits_range=None, **kwargs):
        start, end = logits_range or (window_start, window_start + input_ids.shape[1])
        if start - 1 < window_start and start > 0:
            raise ValueError(f"the logits of position {start} need the window to start at {start - 1} or before")
        first = max(start - 1, 0)  # output rows [first, end - 1), plus output 0 again when start is 0
        if self.supports_block_cache:
            out = self.model(input_ids, attention_mask=attention_mask, past_key_values=past_key_values,
                             use_cache=use_cache, window_start=window_start, logits_range=(first, end - 1), **kwargs)
            raw = out.logits
        else:  # the checkpoint's own code: whole sequence, cut here
            out = self.model(input_ids, attention_mask=attention_mask, **kwargs)
            raw = out.logits[:, first - window_start:end - 1 - window_start]
        out.logits = torch.cat([raw[:, :1], raw], dim=1) if start == 0 else raw
        return out
