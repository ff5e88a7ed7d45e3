"""The one denoising loop. Every decoder is this loop with other parts plugged in (see `DecoderSpec`).

The commit rule lays the canvas out in blocks. Rows share the current block; each step, for the rows that
still have masks in it: (1) forward, (2) choose x0 (the `sampler`, `sampling.py`), (3) rank the
candidates (the block's masked positions), (4) let the EOS policy adjust the ranking, (5) let the commit rule
pick the candidates that take x0. A block ends when no row has masks left in it, or after the passes its `steps`
cap allows: a position whose x0 is the mask token itself stays masked (as in LLaDA's and Dream's fixed loops).
A row done with the block leaves the forward batch, so each row decodes, and spends forward passes, exactly as
it does alone. Only the candidates are touched after the forward pass; the loop syncs with the device once per
step (the mask counts).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from mdlm_eval.decoding.block_canvas import BlockCanvas
from mdlm_eval.decoding.commit import COMMIT_RULES, CommitRule, StepInput, make_commit_rule
from mdlm_eval.decoding.eos import make_eos_policy
from mdlm_eval.decoding.cache import BlockCausalForward, make_block_forward
from mdlm_eval.decoding.noise import RowNoise
from mdlm_eval.decoding.ranking import RANKINGS
from mdlm_eval.decoding.sampling import make_sampler
from mdlm_eval.decoding.schedule import Step, count_plan
from mdlm_eval.decoding.spec import DecoderSpec, load_spec
from mdlm_eval.decoding.uniform_canvas import decode_uniform_canvas, uniform_noise
from mdlm_eval.errors import UsageError


@dataclass
class Trace:
    """When each generated position was unmasked (step index) and its ranking score at that step."""

    step: torch.Tensor  # [batch, gen_length] long: the row's own step count (its forward passes before it)
    score: torch.Tensor  # [batch, gen_length] float
    num_steps: int  # the most steps any row took

    def early_eos_share(self, tokens: torch.Tensor, eos_ids: Sequence[int], fraction: float = 0.25) -> torch.Tensor:
        """Per row, the share of EOS among tokens unmasked in the first `fraction` of the steps.

        `tokens` are the generated tokens [batch, gen_length]. The EOS-trap statistic of arXiv 2509.23924.
        """
        early = self.step < max(1, round(self.num_steps * fraction))
        eos = torch.isin(tokens, torch.tensor(list(eos_ids), device=tokens.device))
        return (early & eos).sum(1) / early.sum(1).clamp(min=1)


@dataclass
class DecodeOutput:
    sequences: torch.Tensor  # [batch, prompt_len + gen_length], prompt included
    nfe: int  # forward passes made (a pass over any number of rows counts once)
    trace: Trace | None = None
    nfe_per_row: list[int] | None = None  # the passes each row took part in: its NFE when decoded alone
    encoder_passes_per_row: list[int] | None = None  # encoder-decoder models (DiffusionGemma): one per canvas
    store_passes_per_row: list[int] | None = None  # block-causal models: passes that only store finished blocks


def make_plan(spec: DecoderSpec, gen_length: int) -> list[Step]:
    """The steps of a count-rule decode; raises UsageError for budgets the layout cannot take."""
    if spec.commit != "count":
        raise UsageError(f"commit {spec.commit} has no precomputed plan (see planned_nfe)")
    if gen_length < 1:
        raise UsageError(f"gen_length must be >= 1, got {gen_length}")
    return count_plan(spec, gen_length, spec.resolve_steps(gen_length))


def planned_nfe(spec: DecoderSpec, gen_length: int) -> int | None:
    """Forward passes per row, known before decoding; None for adaptive rules. Checks the layout."""
    rule = make_commit_rule(spec, gen_length)
    return None if rule.adaptive else sum(block.cap for block in rule.blocks)


def vocab_size(model: torch.nn.Module) -> int | None:
    config = getattr(model, "config", None)
    return getattr(config, "vocab_size", None)


def check_inputs(model, input_ids, attention_mask, mask_id: int, eos_ids: Sequence[int]) -> None:
    if input_ids.dim() != 2 or input_ids.dtype != torch.long:
        raise UsageError(f"input_ids must be a 2-D LongTensor [batch, prompt_len], got {tuple(input_ids.shape)}")
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise UsageError(f"attention_mask shape {tuple(attention_mask.shape)} differs from input_ids {tuple(input_ids.shape)}")
    vocab = vocab_size(model)
    for name, ids in (("mask_id", [mask_id]), ("eos_token_ids", list(eos_ids))):
        if vocab is not None and any(not 0 <= i < vocab for i in ids):
            raise UsageError(f"{name} {ids} is outside the model's vocabulary of {vocab} tokens")
    if (input_ids == mask_id).any():
        raise UsageError(f"the prompt already contains the mask token {mask_id}; masks belong to the canvas only")


class BlockCounts:
    """Masks left per row in every block, from one cumulative sum: [batch, num_blocks] in one host copy."""

    def __init__(self, rule: CommitRule, prompt_len: int, device: torch.device):
        self.prompt_len = prompt_len
        self.starts = torch.tensor([b.start for b in rule.blocks], device=device)
        self.ends = torch.tensor([b.end for b in rule.blocks], device=device)

    def __call__(self, x: torch.Tensor, mask_id: int) -> list[list[int]]:
        return self.count(x[:, self.prompt_len:] == mask_id)  # the step's one host-device sync

    def count(self, flags: torch.Tensor) -> list[list[int]]:
        """[batch, num_blocks] the True flags [batch, gen_length] in each block."""
        total = torch.nn.functional.pad(flags.cumsum(1), (1, 0))
        return (total[:, self.ends] - total[:, self.starts]).tolist()


@torch.no_grad()
def decode(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    decoder: "str | DecoderSpec" = "eoser_ass",
    *,
    gen_length: int = 256,
    steps: int | str | None = None,
    mask_id: int = 126336,
    eos_token_ids: Sequence[int] = (126081,),
    attention_mask: torch.Tensor | None = None,
    seeds: Sequence[int] | None = None,
    trace: bool = False,
    noise_dtype: torch.dtype = torch.float64,
    **overrides: Any,
) -> DecodeOutput:
    """Generate `gen_length` tokens after each prompt row by iterative unmasking.

    `decoder` is a preset name (`decoders/<name>.yaml`), a YAML path or a `DecoderSpec`; `steps` and the
    overrides (commit, block_length, block_num, temperature, cfg_scale, remasking, eos_policy, threshold, ...)
    replace its fields. `seeds` (one per row, default 0) seed each row's noise for sampling and random
    ranking, so a row draws the same noise alone or in any batch. `noise_dtype` is the Gumbel noise's dtype
    (float64, as LLaDA's generate.py; the RL trainers pass the model's dtype, as theirs do).
    """
    spec = load_spec(decoder).with_overrides(steps=steps, **overrides)
    if spec.commit == "renoise" or uniform_noise(model):  # no mask token: uniform-noise canvases (DiffusionGemma)
        return decode_uniform_canvas(model, input_ids, spec, gen_length=gen_length, eos_token_ids=eos_token_ids,
                                     attention_mask=attention_mask, seeds=seeds, trace=trace)
    eos_ids = list(eos_token_ids)
    if spec.eos_policy != "none" and not eos_ids:
        raise UsageError(f"eos_policy {spec.eos_policy} needs at least one id in eos_token_ids")
    check_inputs(model, input_ids, attention_mask, mask_id, eos_ids)
    canvas = None
    if getattr(model, "block_causal", False):  # block diffusion: the model's blocks, laid out per row
        spec = block_causal_spec(spec, model)
        canvas = BlockCanvas.lay_out(input_ids, attention_mask, gen_length, spec.block_length, mask_id,
                                     eos_ids[0] if eos_ids else 0, COMMIT_RULES[spec.commit].first_by_store)
        spec = per_block_steps(spec, gen_length, canvas.gen_length)
        input_ids, attention_mask, gen_length = canvas.x, canvas.attention_mask, canvas.gen_length
    rule = make_commit_rule(spec, gen_length)
    if rule.edits and not getattr(model, "token_editing", False):
        raise UsageError(f"decoder {spec.name} re-writes committed tokens (commit {spec.commit}), which only a model "
                         f"trained to edit does (LLaDA2.1, model_type llada21_moe); this "
                         f"{type(model).__name__} does not")

    batch = input_ids.shape[0]
    prompt_len = input_ids.shape[1] if canvas is None else canvas.prompt_len
    device = input_ids.device
    if canvas is None:
        x = torch.cat([input_ids, input_ids.new_full((batch, gen_length), mask_id)], dim=1)
        if attention_mask is not None:
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((batch, gen_length))], dim=1)
    else:
        x = canvas.x
    forward = make_block_forward(model, spec, rule, prompt_len, mask_id)
    if canvas is not None:
        forward.model_kwargs = {"block_length": spec.block_length}
    ranking = RANKINGS[spec.remasking]()
    sampler = make_sampler(spec.sampler, spec.temperature, spec.top_p, spec.top_k, noise_dtype)
    eos = make_eos_policy(spec.eos_policy, eos_ids, spec.gamma_schedule, spec.eos_min_gamma, spec.eos_max_gamma,
                          spec.remasking, device)
    noise = RowNoise(seeds if seeds is not None else [0] * batch, device) if (
        spec.temperature > 0 or ranking.needs_noise or rule.needs_noise
    ) else None
    if noise is not None and len(noise.generators) != batch:
        raise UsageError(f"seeds has {len(noise.generators)} entries for a batch of {batch}")
    if canvas is not None:
        own_prompt = canvas.prompt_lengths.tolist()
    elif attention_mask is None:
        own_prompt = [prompt_len] * batch
    else:
        own_prompt = attention_mask[:, :prompt_len].sum(1).tolist()
    rank = torch.arange(max(b.end - b.start for b in rule.blocks), device=device).unsqueeze(0)
    block_counts = BlockCounts(rule, prompt_len, device)
    generated, sizes = None, None  # an editing rule draws x0 at every generated position of the block
    if rule.edits:
        generated = canvas.own_columns() if canvas is not None else torch.ones((batch, gen_length), dtype=torch.bool,
                                                                                device=device)
        sizes = block_counts.count(generated)
    stopped = canvas.stopped if canvas is not None else [False] * batch
    unmasked_at = torch.full((batch, gen_length), -1, dtype=torch.long, device=device) if trace else None
    unmasked_score = torch.full((batch, gen_length), torch.nan, device=device) if trace else None

    nfe, row_steps, row_blocks = 0, [0] * batch, [0] * batch
    block, step_in_block = 0, 0
    while True:
        left = block_counts(x, mask_id)

        def taking_part(b: int) -> list[int]:  # the rows that make another pass in block b
            return [r for r in range(batch) if not stopped[r] and rule.open(r, b, left[r][b])]

        while block < len(rule.blocks) and (not taking_part(block) or rule.blocks[block].cap == step_in_block):
            block, step_in_block = block + 1, 0  # the block ends when no row takes part in it, or at its cap
        if block == len(rule.blocks):
            break
        if canvas is not None and (step_in_block == 0 or rule.stops_mid_block) and \
                canvas.stop_after_eos(eos_ids, mask_id, rule.stops_mid_block):
            continue  # rows whose EOS came in a finished block are done (the references' per-block stop)
        spans = rule.blocks[block]
        start, end = prompt_len + spans.start, prompt_len + spans.end
        rows = taking_part(block)
        counts_host = [left[r][block] for r in rows]
        drawn_at = counts_host if sizes is None else [sizes[r][block] for r in rows]  # x0 drawn per row
        index = None if len(rows) == batch else torch.tensor(rows, device=device)
        xa = x if index is None else x.index_select(0, index)
        am = None if attention_mask is None or index is None else attention_mask.index_select(0, index)

        # (1) forward
        forward.rows = index
        logits, offset = forward(xa, attention_mask if index is None else am, start, end, step_in_block == 0)
        nfe += spans.counted
        window = xa[:, start:end]
        candidates = window == mask_id  # [b, W]
        editable = None
        if sizes is not None:
            own = generated[:, spans.start:spans.end]
            editable = (own if index is None else own.index_select(0, index)) & ~candidates
        drawn_from = candidates if editable is None else candidates | editable
        width = end - start
        flat = drawn_from.view(-1).nonzero_static(size=sum(drawn_at)).squeeze(1)  # row-major
        cand_rows = flat // width
        at = cand_rows * logits.shape[1] + flat % width + (start - offset)
        cand_logits = logits.reshape(-1, logits.shape[-1]).index_select(0, at)  # [N, V]
        counts = torch.tensor(counts_host, device=device)

        def uniform(width_: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
            return noise.uniform(rows, drawn_at, width_, dtype)

        # (2) choose, (3) rank, (4) EOS policy
        cand_logits = eos.ban(cand_logits)
        drawn = rule.draw(step_in_block, lambda dtype: uniform(1, dtype).squeeze(1))
        generators = None if noise is None else noise.generators
        x0 = sampler.choose(cand_logits, uniform, rows, drawn_at, generators, drawn)
        score = ranking(sampler.rank_logits(eos.rank_logits(cand_logits)), x0, lambda: uniform(1).squeeze(1))
        local, total = rule.eos_clock(block, step_in_block, [row_steps[r] for r in rows])
        score = eos.adjust(score, x0, local, total, cand_rows)

        # (5) commit what the rule picks
        dense = torch.full(candidates.shape, -torch.inf, dtype=score.dtype, device=device)
        dense.view(-1)[flat] = score
        proposal = window.clone()
        proposal.view(-1)[flat] = x0
        step = StepInput(
            tokens=window, score=dense, candidates=candidates, counts=counts, block=block, step=step_in_block,
            last=spans.cap is not None and step_in_block == spans.cap - 1, logits=cand_logits, flat=flat,
            uniform=lambda dtype: uniform(1, dtype).squeeze(1), rank=rank[:, :width], rows=rows,
            generators=generators, own_prompt=own_prompt, drawn=drawn, editable=editable, proposal=proposal,
        )
        chosen = rule.select(step)
        chosen, remasked = chosen if isinstance(chosen, tuple) else (chosen, None)
        new_window = torch.where(chosen, proposal, window)
        if remasked is not None:  # a re-masking rule sends committed tokens back to mask
            new_window = new_window.masked_fill(remasked, mask_id)
        if index is None:
            x[:, start:end] = new_window
        else:
            x[index, start:end] = new_window
        if trace:
            when = torch.tensor([row_steps[r] for r in rows], device=device).unsqueeze(1)
            gen = slice(spans.start, spans.end)
            sel = slice(None) if index is None else index
            unmasked_at[sel, gen] = torch.where(chosen, when, unmasked_at[sel, gen])
            if remasked is not None:
                unmasked_at[sel, gen] = unmasked_at[sel, gen].masked_fill(remasked, -1)
            unmasked_score[sel, gen] = torch.where(chosen, dense.to(unmasked_score.dtype), unmasked_score[sel, gen])
        for r in rows:
            row_steps[r] += spans.counted
            row_blocks[r] += step_in_block == 0
        step_in_block += 1

    if canvas is not None:  # back to [prompt as given ++ the L requested tokens]
        x = canvas.sequences()
        if trace:
            unmasked_at, unmasked_score = canvas.generated(unmasked_at), canvas.generated(unmasked_score)
    run_trace = Trace(unmasked_at, unmasked_score, max(row_steps)) if trace else None
    stores = None
    if isinstance(forward, BlockCausalForward):  # as alone: the prompt's full blocks, then one per block after the first
        B = spec.block_length
        stores = [max(n - 1, 0) + (int(canvas.prompt_lengths[r]) >= B and n > 0) for r, n in enumerate(row_blocks)]
    return DecodeOutput(sequences=x, nfe=nfe, trace=run_trace, nfe_per_row=row_steps, store_passes_per_row=stores)


def per_block_steps(spec: DecoderSpec, gen_length: int, canvas_length: int) -> DecoderSpec:
    """An integer step budget on a block canvas, as a budget per block: `steps` over the ceil(L / B) blocks of the
    L requested tokens, the same per block on the canvas's blocks (so a row's passes do not depend on how many
    blocks the rows beside it need). Step words are proportions of the canvas already."""
    if not isinstance(spec.steps, int):
        return spec
    blocks = -(-gen_length // spec.block_length)
    if spec.steps % blocks:
        raise UsageError(f"on a block-causal model steps are a budget per block: {spec.steps} steps do not divide "
                         f"evenly over the {blocks} blocks of {spec.block_length} in L={gen_length}; give a multiple "
                         f"of {blocks} or a step word (full, half)")
    return spec.with_overrides(steps=spec.steps // blocks * (canvas_length // spec.block_length))


def block_causal_spec(spec: DecoderSpec, model) -> DecoderSpec:
    """The decoder on a block-causal model: blocks of the model's trained length unless the decoder names one (an
    ascending schedule then runs inside each block)."""
    if spec.block_length is None:
        spec = spec.with_overrides(block_length=model.trained_block_length)
    return spec
