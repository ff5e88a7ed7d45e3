"""The canvas of a block-causal model (`model.block_causal`, `mdlm_eval/models/block_causal.py`).

Block-diffusion references lay a row's blocks out from its first prompt token (LLaDA2's and SDAR's `generate`):
with P prompt tokens, blocks of B and L to generate, the canvas holds ceil((P + L) / B) blocks, the first decoded
block starts at column B * floor(P / B) and so shares its block with the prompt's last P mod B tokens, and the
last block runs up to B - 1 positions past P + L (decoded too). Rows of a batch have their own P, so each row is
placed with its last full prompt block ending at one common column G: row r's prompt fills [G + q_r - P_r,
G + q_r) (q_r = P_r mod B), masks fill [G + q_r, G + B ceil((q_r + L) / B)), and the rest is padding (attention
0, never a candidate). Every row's blocks then sit on the same columns G, G + B, ..., so the loop decodes one
shared block at a time, and a row's positions, blocks and attention are those of the row alone.

The references stop after the block in which a stop id appears (SDAR's `stopping_criteria_idx`, the block-level
stop of LLaDA2's serving loops): here a row whose generated tokens hold an EOS id when a block begins has its
remaining masks set to the first EOS id, so it takes part in no further pass. Fast-dLLM v2's `generate` stops
mid-block, before any pass, once the first stop id among the generated tokens has no mask before it (`settled`).

Fast-dLLM v2 commits a block's first token from the pass that stores the block before it (`first_by_store`): a
last block whose only requested position is its first then holds no other masks (the reference never decodes
them), so `gen_length` = B (max_new_tokens // B) - (P mod B) + 1 reproduces its output and its passes exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch


@dataclass
class BlockCanvas:
    x: torch.Tensor  # [batch, G + blocks * B] the aligned canvas
    attention_mask: torch.Tensor | None  # None when no row has padding (batch 1)
    prompt_len: int  # G: the column where the first decoded block starts
    gen_length: int  # blocks * B: the columns after G
    tail: torch.Tensor  # [batch] q_r, the prompt tokens of each row inside the first decoded block
    ends: torch.Tensor  # [batch] where each row's last block ends, counted from G
    prompt_lengths: torch.Tensor  # [batch] P_r
    input_ids: torch.Tensor  # the caller's prompt rows, as given
    requested: int  # L, the tokens the caller asked for
    stopped: list[bool]  # rows done after a block that held EOS

    @classmethod
    def lay_out(cls, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, gen_length: int,
                block_length: int, mask_id: int, pad_id: int, first_by_store: bool = False) -> "BlockCanvas":
        batch, width = input_ids.shape
        real = (torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None
                else attention_mask.bool())
        lengths = real.sum(1)
        tail = lengths % block_length
        start = int((lengths - tail).max())
        blocks = -(-(tail + gen_length) // block_length)  # ceil((q_r + L) / B)
        total = start + int(blocks.max()) * block_length
        ends = blocks * block_length
        if first_by_store:  # a last block needed for its first token only: that token alone
            ends = torch.where((tail + gen_length) % block_length == 1, tail + gen_length, ends)
        x = input_ids.new_full((batch, total), pad_id)
        mask = torch.zeros((batch, total), dtype=torch.long, device=input_ids.device)
        for r in range(batch):
            p, q, end = int(lengths[r]), int(tail[r]), start + int(ends[r])
            x[r, start + q - p:start + q] = input_ids[r][real[r]]
            x[r, start + q:end] = mask_id
            mask[r, start + q - p:end] = 1
        padded = not bool(mask.all())
        return cls(x, mask if padded else None, start, total - start, tail, ends, lengths,
                   input_ids, gen_length, [False] * batch)

    def own_columns(self) -> torch.Tensor:
        """[batch, gen_length] bool: the columns after G that hold a row's own generated positions (neither its
        prompt nor padding)."""
        column = torch.arange(self.gen_length, device=self.x.device)
        return (column >= self.tail.unsqueeze(1)) & (column < self.ends.unsqueeze(1))

    def stop_after_eos(self, eos_ids: Sequence[int], mask_id: int, settled: bool = False) -> bool:
        """Mark every row whose generated tokens hold an EOS id (`settled`: one with no mask before it) as stopped
        and set its remaining masks to the first EOS id; True if any row stopped now."""
        generated = self.x[:, self.prompt_len:]
        eos = torch.isin(generated, torch.tensor(list(eos_ids), device=generated.device)) & self.own_columns()
        if settled:
            eos &= (generated == mask_id).cumsum(1) == 0
        now = [r for r, hit in enumerate(eos.any(1).tolist()) if hit and not self.stopped[r]]
        if not now:
            return False
        for r in now:
            self.stopped[r] = True
            generated[r].masked_fill_(generated[r] == mask_id, eos_ids[0])
        return True

    def generated(self, values: torch.Tensor) -> torch.Tensor:
        """The `requested` columns after each row's prompt, from [batch, gen_length] per-column values."""
        index = self.tail.unsqueeze(1) + torch.arange(self.requested, device=values.device)
        return values.gather(1, index)

    def sequences(self) -> torch.Tensor:
        """[batch, prompt + L]: the caller's prompts, as given, followed by each row's L generated tokens."""
        return torch.cat([self.input_ids, self.generated(self.x[:, self.prompt_len:])], dim=1)
