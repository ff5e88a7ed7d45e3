"""Model families: the token ids and logit conventions that differ between MDLM families.

LLaDA (model_type "llada"): mask 126336, EOS 126081, EOT 126348, logits aligned with positions.
Dream (model_type "Dream"): its own mask id; logits shifted right by one (AR initialisation: the
prediction for position i is output i-1, as Dream's generation code realigns them).
Other families (the toy model among them) need a mask token in their config or tokenizer.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mdlm_eval.errors import UsageError


@dataclass(frozen=True)
class Family:
    name: str
    shift_logits: bool = False
    mask_id: int | None = None  # used when neither config nor tokenizer names one


FAMILIES = {
    "llada": Family("llada", mask_id=126336),
    "dream": Family("dream", shift_logits=True, mask_id=151666),
    "generic": Family("generic"),
}


@dataclass(frozen=True)
class TokenIds:
    mask_id: int
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
    """Ids from the config, then the tokenizer, then the family's defaults; a missing mask id is an error."""
    mask = mask_id if mask_id is not None else getattr(config, "mask_token_id", None)
    if mask is None:
        mask = tokenizer.mask_token_id if tokenizer.mask_token is not None else family.mask_id
    if mask is None:
        raise UsageError(
            f"model family '{getattr(config, 'model_type', '?')}' is unknown and names no mask token; "
            f"pass mask_id=ID or family=llada|dream"
        )
    eos = getattr(config, "eos_token_id", None)
    eos = eos if isinstance(eos, int) else tokenizer.eos_token_id
    eot = getattr(config, "eot_token_id", None)
    if eot is None:
        eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
        eot = None if eot == tokenizer.unk_token_id else eot
    return TokenIds(mask_id=int(mask), eos_id=int(eos), eot_id=eot)


class ShiftedLogits(nn.Module):
    """Dream's convention: realign so that logits[:, i] predicts token i (output i-1; position 0 keeps its own)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.config = model.config

    def forward(self, input_ids, attention_mask=None):
        out = self.model(input_ids, attention_mask=attention_mask)
        logits = out.logits
        out.logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
        return out
