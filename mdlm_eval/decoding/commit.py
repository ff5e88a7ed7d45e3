"""Commit rules: which candidates of the current block take their x0 at a step (and, for re-masking rules,
which committed tokens go back to mask).

A rule is a small class registered by name; `decoders/*.yaml` pick one with `commit: NAME`. It lays the
canvas out in blocks (`blocks`) and, each step, turns the candidates' scores into a [b, W] selection
(`select`; a re-masking rule returns (committed, re-masked)). Scores are the ranking's, after the EOS policy; higher goes first; ties go to the leftmost
position. Every rule commits at least one candidate per row and step, and every candidate left at the last
step a `steps` cap allows for a block.
"""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from mdlm_eval.decoding.forward import Forward, ShadowForward, make_forward
from mdlm_eval.decoding.schedule import Step, block_caps, count_plan, one_block
from mdlm_eval.decoding.spec import DecoderSpec
from mdlm_eval.errors import UsageError

COMMIT_RULES: dict[str, type["CommitRule"]] = {}


def register(name: str) -> Callable[[type["CommitRule"]], type["CommitRule"]]:
    def add(cls: type["CommitRule"]) -> type["CommitRule"]:
        COMMIT_RULES[name] = cls
        return cls

    return add


@dataclass(frozen=True)
class Block:
    start: int  # generation coordinates: the block is canvas[prompt_len + start : prompt_len + end]
    end: int
    cap: int | None  # the most forward passes the block may take (None: until it has no masks)
    counted: bool = True  # its passes count in NFE (False: the prompt's prefill, which no reference counts)


@dataclass
class StepInput:
    """What a rule sees at one step, for the b rows decoding the block (W = the block's width)."""

    tokens: torch.Tensor  # [b, W] the block's tokens before this step
    score: torch.Tensor  # [b, W] the ranking score, -inf where not a candidate
    candidates: torch.Tensor  # [b, W] bool: the block's masked positions
    counts: torch.Tensor  # [b] long: candidates per row
    block: int  # index into `rule.blocks`
    step: int  # forward passes already made in this block (the same for every row decoding it)
    last: bool  # the cap's last step for this block: every candidate is committed
    logits: torch.Tensor  # [N, V] the candidates' logits (after the EOS ban), row-major
    flat: torch.Tensor  # [N] each candidate's index into score.view(-1)
    uniform: Callable[[torch.dtype], torch.Tensor]  # [N] U(0, 1), each from its row's seeded stream
    rank: torch.Tensor  # [1, W] 0 .. W-1 (built once per decode)
    rows: list[int]  # the batch index of each row
    generators: list[torch.Generator] | None  # each batch row's seeded stream (None without noise)
    own_prompt: list[int]  # each batch row's prompt length without its left padding
    drawn: torch.Tensor | None = None  # what the rule's `draw` gave this step
    editable: torch.Tensor | None = None  # [b, W] bool, editing rules: the row's committed generated positions
    proposal: torch.Tensor | None = None  # [b, W] x0 at the candidates (and the editable positions), else tokens

    def dense(self, values: torch.Tensor, fill: float) -> torch.Tensor:
        """Per-candidate values [N] laid out as [b, W], `fill` elsewhere."""
        out = torch.full(self.score.shape, fill, dtype=values.dtype, device=values.device)
        out.view(-1)[self.flat] = values
        return out


def take_best(step: StepInput, keep_sorted: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Scatter a selection made in sorted order back to positions, candidates only."""
    keep_sorted = keep_sorted.expand_as(order)
    return torch.zeros_like(step.candidates).scatter(1, order, keep_sorted) & step.candidates


def take_top_k(step: StepInput, k: torch.Tensor | int) -> torch.Tensor:
    """The k best candidates of each row (k: an int or [b])."""
    order = step.score.sort(dim=1, descending=True, stable=True).indices
    k = k.unsqueeze(1) if isinstance(k, torch.Tensor) else k
    return take_best(step, step.rank < k, order)


class CommitRule:
    adaptive = False  # the number of forward passes is decided while decoding
    needs_noise = False
    edits = False  # may re-write committed tokens: x0 is drawn at the block's committed positions too
    stops_mid_block = False  # a row stops before any pass once its first EOS has no mask before it (else at blocks)
    first_by_store = False  # a block's first token comes from the pass that stores the block before it

    def __init__(self, spec: DecoderSpec, gen_length: int):
        self.spec, self.gen_length = spec, gen_length
        self.cap = spec.resolve_steps(gen_length)
        self.blocks = self.layout()

    def layout(self) -> list[Block]:
        """Blocks of `block_length` (one block when None); a cap is spread over them as LLaDA spreads steps."""
        return [Block(*b) for b in block_caps(self.gen_length, self.spec.block_length, self.cap)]

    def make_forward(self, model: torch.nn.Module, prompt_len: int, mask_id: int) -> Forward:
        return make_forward(model, prompt_len, mask_id, self.spec.cfg_scale)

    def eos_clock(self, block: int, step: int, row_steps: list[int]) -> tuple[int | list[int], int]:
        """(step, total) for the EOS policy's gamma schedule. Adaptive rules: each row's passes so far,
        over the cap (gen_length when uncapped)."""
        return row_steps, self.cap or self.gen_length

    def draw(self, step: int, uniform: Callable[[torch.dtype], torch.Tensor]) -> torch.Tensor | None:
        """Randomness the rule draws before x0 is chosen (`uniform(dtype)`: [N] from each row's stream), as [N]
        bool: the candidates that may take x0 (the sampler need not draw the others); None: all may."""
        return None

    def open(self, row: int, block: int, masks: int) -> bool:
        """Whether batch row `row` takes another pass in `block`, with `masks` masks left there."""
        return masks > 0

    def select(self, step: StepInput) -> torch.Tensor:
        raise NotImplementedError


@register("count")
class CountRule(CommitRule):
    """The k best per step, k from a precomputed plan: LLaDA's uniform counts per block or ASS's 1, 2, 4, ..."""

    def layout(self) -> list[Block]:
        self.plan = count_plan(self.spec, self.gen_length, self.cap)
        self.block_steps: list[list[Step]] = []
        blocks, start = [], 0
        for step in self.plan:  # consecutive steps with the same right edge form a block
            if not blocks or blocks[-1].end != step.end:
                start = blocks[-1].end if blocks else 0
                blocks.append(Block(start, step.end, 0))
                self.block_steps.append([])
            self.block_steps[-1].append(step)
            blocks[-1] = Block(start, step.end, len(self.block_steps[-1]))
        return blocks

    def eos_clock(self, block, step, row_steps):
        if self.spec.schedule == "ascending" and self.spec.block_length is not None:
            return self.block_steps[block][step].local, len(self.block_steps[block])  # each block its own ASS
        return self.block_steps[block][step].local, len(self.plan)

    def select(self, step):
        return take_top_k(step, self.block_steps[step.block][step.step].k)


@register("dynamic")
class DynamicRule(CountRule):
    """SDAR's `low_confidence_dynamic` (JetAstra/SDAR huggingface_bd3.py) and LLaDA2's `generate` rule: with k
    the count rule's uniform per-block step schedule (their `get_num_transfer_tokens`), commit every candidate
    with confidence > threshold when at least k do, else the top k. A block may end before its steps run out."""

    adaptive = True

    def select(self, step):
        k = self.block_steps[step.block][step.step].k
        over = (step.score > self.spec.threshold) & step.candidates
        enough = (over.sum(1) >= k).unsqueeze(1)
        return torch.where(enough, over, take_top_k(step, k))


@register("threshold")
class ThresholdRule(CommitRule):
    """Fast-dLLM `get_transfer_index` with `threshold`: every candidate with score >= tau, and always the best."""

    adaptive = True

    def select(self, step):
        if step.last:
            return step.candidates.clone()
        ranked, order = step.score.sort(dim=1, descending=True, stable=True)
        keep = ranked >= self.spec.threshold
        keep[:, 0] = True
        return take_best(step, keep, order)


@register("factor")
class FactorRule(CommitRule):
    """Fast-dLLM `get_transfer_index_dynamic`: scan the scores c_(1) >= c_(2) >= ... of the block's N candidates
    for the first rank n >= 2 with c_(n) < 1 - f / (n + 1), and commit the n - 1 before it. The reference's edge:
    when that first failure is the last rank N, or nothing fails, all N are committed (so a lone failure at
    the end still commits it); N = 1 commits the one."""

    adaptive = True

    def select(self, step):
        if step.last:
            return step.candidates.clone()
        ranked, order = step.score.sort(dim=1, descending=True, stable=True)
        n = step.counts.unsqueeze(1)
        bar = 1 - self.spec.factor / (step.rank.double() + 2)  # float64, as the reference's Python floats
        bar[:, 0] = -1.0
        fails = (ranked < bar) & (step.rank < n)
        first = torch.where(fails.any(1), fails.int().argmax(1), step.counts - 1)
        first = torch.where((first == 0) | (first == step.counts - 1), first + 1, first)
        return take_best(step, step.rank < first.unsqueeze(1), order)


@register("eb")
class EntropyBoundRule(CommitRule):
    """EB-sampler (arXiv 2505.24857) as d2Cache (Kamichanw/d2Cache `confidence_unmasking`, `gamma`) writes it:
    sort the candidates by score, commit the largest prefix whose entropies satisfy cumsum(H) - cummax(H) <=
    gamma (at least one). H is torch's Categorical entropy of the float32 probabilities, as d2Cache takes it;
    the cummax runs along each row (d2Cache's runs across the batch, a bug for batch > 1)."""

    adaptive = True

    def select(self, step):
        if step.last:
            return step.candidates.clone()
        order = step.score.sort(dim=1, descending=True, stable=True).indices
        p = F.softmax(step.logits, dim=-1).float()
        entropy = step.dense(torch.distributions.Categorical(probs=p).entropy(), 0.0).gather(1, order)
        bound = entropy.cumsum(1) - entropy.cummax(1).values
        k = ((bound <= self.spec.gamma) & (step.rank < step.counts.unsqueeze(1))).sum(1).clamp(min=1)
        return take_best(step, step.rank < k.unsqueeze(1), order)


class DreamGrid(CommitRule):
    """Dream's time grid (DreamLM/Dream `generation_utils.py` `_sample`): t_i = linspace(1, eps, steps + 1)[i]
    in float32; step i commits int(m * (1 - t_(i+1) / t_i)) of a row's m masked positions, every one at the last
    step. One block: the whole canvas; `steps` passes. Dream averages m over the batch (so a row's output depends
    on its batch); here m is each row's own count, which is Dream's at batch 1."""

    def layout(self):
        one_block(self.spec.commit, self.spec.block_length, self.gen_length)
        grid = torch.linspace(1, self.spec.eps, self.cap + 1)
        self.rate = (1 - grid[1:] / grid[:-1]).tolist()  # float32 values, exact in Python floats
        return [Block(0, self.gen_length, self.cap)]


@register("dream")
class DreamTopK(DreamGrid):
    """Dream `alg` = maskgit_plus | topk_margin | entropy (the ranking): the best int(m (1 - s/t)), chosen by
    `torch.topk` over the row's own canvas laid out as Dream lays it out (prompt included, -inf where not masked),
    so that exact ties (frequent once top_p / top_k leave one token: confidence 1) fall as in Dream; with
    alg_temp > 0 the positions are drawn without replacement from softmax(score / alg_temp) over that row (Dream's
    `torch.multinomial`)."""

    def __init__(self, spec, gen_length):
        super().__init__(spec, gen_length)
        self.needs_noise = spec.alg_temp > 0

    def count(self, step: StepInput) -> torch.Tensor:
        if step.last:
            return step.counts
        rate = torch.tensor(self.rate[step.step], dtype=torch.float32)
        return (step.counts.to(torch.float32) * rate).long()  # Dream: int(float32 m * float32 rate)

    def select(self, step):
        k = self.count(step)
        chosen = torch.zeros_like(step.candidates)
        for i, (row, n) in enumerate(zip(step.rows, k.tolist())):
            if n > 0:
                own = step.own_prompt[row]
                full = torch.cat([step.score.new_full((own,), -torch.inf), step.score[i]]).unsqueeze(0)
                if self.spec.alg_temp == 0:
                    picks = torch.topk(full, n).indices[0]
                else:
                    picks = torch.multinomial(F.softmax(full[0] / self.spec.alg_temp, dim=-1), n,
                                              generator=step.generators[row])
                chosen[i, picks - own] = True
        return chosen


@register("dream_origin")
class DreamOrigin(DreamGrid):
    """Dream `alg=origin`: each masked position is committed with probability 1 - s/t (u < 1 - s/t, u float32
    from the row's stream, drawn for every masked position in position order before x0 is sampled, and x0
    sampled for the committed ones only), all at the last step. Dream keeps calling the model after a row has no
    masks left; here the row stops (same tokens, fewer passes)."""

    needs_noise = True

    def draw(self, step, uniform):
        u = uniform(torch.float32)
        if step == self.cap - 1:
            return torch.ones_like(u, dtype=torch.bool)
        return u < torch.tensor(self.rate[step], dtype=torch.float32)

    def select(self, step):
        return step.dense(step.drawn, False)


@register("wino")
class WinoRule(CommitRule):
    """WINO (arXiv 2507.18578; github Feng-Hong/WINO-DLLM LLaDA/decoding.py `decoding_wino`), wide in, narrow out.
    Wide in: commit every candidate with score > threshold (0.6), at most the min(max(int(0.7 m), 5), 20) best of a
    row's m masks, at least the best one. Narrow out: when a step commits more than one token, the block's tokens
    committed at earlier steps whose probability under the shadow view (`ShadowForward`, float64) is below
    threshold_back (0.9) go back to mask; when there are at least as many as the row's previous commit count a
    (30 at a block's start), only the a - 1 least probable."""

    adaptive = True

    def make_forward(self, model, prompt_len, mask_id):
        if self.spec.cfg_scale > 0:
            raise UsageError("commit wino cannot take cfg_scale: its shadow-block forward has no guidance")
        if getattr(model, "logits_lead", 0):  # Dream: logits[i] is output i - 1
            raise UsageError("commit wino is defined for LLaDA-style models only: on a model with shifted logits "
                             "(Dream) the shadow block's first prediction would come from the canvas's last token")
        if "position_ids" not in inspect.signature(model.forward).parameters:
            raise UsageError("commit wino needs a model whose forward takes position_ids and a [b, 1, T, T] "
                             "attention mask (WINO's own LLaDA model file); this one does not")
        self.forward = ShadowForward(model, mask_id)
        self.last_accept: torch.Tensor | None = None  # per batch row, on the device (no host sync)
        return self.forward

    def select(self, step):
        if step.last:
            return step.candidates.clone()
        rows = torch.tensor(step.rows, device=step.score.device)
        if self.last_accept is None:  # every row decodes the first block's first step
            self.last_accept = torch.full((len(step.rows),), 30, device=rows.device)
        if step.step == 0:
            self.last_accept[rows] = 30
        last = self.last_accept[rows]
        most = ((step.counts.float() * 0.7).long()).clamp(min=5, max=20)  # WINO: int(masks * 0.7) in float32
        over = (step.score > self.spec.threshold) & step.candidates
        count = over.sum(1, keepdim=True)
        order = step.score.sort(dim=1, descending=True, stable=True).indices
        chosen = torch.where(count > most.unsqueeze(1), take_best(step, step.rank < most.unsqueeze(1), order),
                             torch.where(count == 0, take_best(step, step.rank < 1, order), over))
        accepted = chosen.sum(1)

        probs = F.softmax(self.forward.shadow.to(torch.float64), dim=-1)
        back = probs.gather(-1, step.tokens.unsqueeze(-1)).squeeze(-1)
        committed = ~step.candidates
        back = torch.where(committed, back, torch.inf)
        low = back < self.spec.threshold_back
        lowest = back.sort(dim=1, stable=True).indices
        capped = torch.zeros_like(low).scatter(1, lowest, (step.rank < (last - 1).unsqueeze(1)).expand_as(lowest))
        remask = torch.where(low.sum(1, keepdim=True) >= last.unsqueeze(1), capped & committed, low)
        remask &= (accepted > 1).unsqueeze(1)
        self.last_accept[rows] = accepted
        return chosen, remask


@register("edit")
class EditRule(CommitRule):
    """LLaDA2.1's joint threshold decoding (arXiv 2602.08676; `generate` of inclusionAI's modeling_llada2_moe.py
    for model_type llada21_moe, as copied in ZHZisZZ/dllm dllm/pipelines/llada21/). Each pass over a block:
    mask to token, every mask with p(x0) > threshold, else the single best (`num_to_transfer` 1); token to token,
    every committed non-prompt position whose x0 differs from its token with p(x0) > editing_threshold takes x0.
    A row leaves the block after a pass that began without masks and edited nothing, or once it has made
    max_post_steps passes that began without masks."""

    adaptive = True
    edits = True

    def __init__(self, spec, gen_length):
        super().__init__(spec, gen_length)
        self.post: dict[tuple[int, int], int] = {}  # (row, block): passes begun without masks
        self.closed: set[tuple[int, int]] = set()

    def open(self, row, block, masks):
        key = (row, block)
        return key not in self.closed and (masks > 0 or self.post.get(key, 0) < self.spec.max_post_steps)

    def select(self, step):
        masks_only = dataclasses.replace(step, score=step.score.masked_fill(~step.candidates, -torch.inf))
        over = (step.score > self.spec.threshold) & step.candidates
        fill = step.candidates.clone() if step.last else torch.where(over.any(1, keepdim=True), over,
                                                                     take_top_k(masks_only, 1))
        edit = step.editable & (step.score > self.spec.editing_threshold) & (step.proposal != step.tokens)
        for row, masks, edited in zip(step.rows, step.counts.tolist(), edit.any(1).tolist()):
            if masks == 0:
                key = (row, step.block)
                self.post[key] = self.post.get(key, 0) + 1
                if not edited:
                    self.closed.add(key)
        return fill | edit


@register("fast_dllm_v2")
class FastDLLMV2Rule(CommitRule):
    """Fast-dLLM v2's `generate` (arXiv 2509.26328; the hub checkpoint Efficient-Large-Model/Fast_dLLM_v2_7B's
    modeling.py), on a block-causal model with shifted logits. Each block of B = `block_length` (the model's
    attention block): its first token is the argmax of the last prediction of the pass that stores the block before
    it (for the first decoded block, when P mod B = 0: of the prompt's prefill, a pass the reference does not
    count), then its sub-blocks of S = `sub_block_length` in order, each until it has no mask: every mask with
    p(x0) > threshold, and always the most probable (`x1_p.argmax`, leftmost on ties). `SubBlockForward` makes the
    passes; a row stops before any pass once its first stop id has no mask before it."""

    adaptive = True
    stops_mid_block = True
    first_by_store = True

    def layout(self):
        width = self.spec.block_length or self.gen_length
        sub = self.spec.sub_block_length or width
        blocks = []
        for a in range(0, self.gen_length, width):
            blocks.append(Block(a, a + 1, 1, counted=a > 0))  # the first token: one pass, the store's
            for s in range(a, min(a + width, self.gen_length), sub):  # sub-block 0 without that first token
                if max(s, a + 1) < min(s + sub, a + width):
                    blocks.append(Block(max(s, a + 1), min(s + sub, a + width), None))
        return blocks

    def make_forward(self, model, prompt_len, mask_id):
        from mdlm_eval.decoding.cache import SubBlockForward

        name = type(getattr(model, "model", model)).__name__
        if not getattr(model, "block_causal", False):
            raise UsageError(f"commit fast_dllm_v2 (sub-blocks of {self.spec.sub_block_length}) is Fast-dLLM v2's "
                             f"block-diffusion decode; {name} is bidirectional")
        if getattr(model, "logits_lead", 0) != 1 or not getattr(model, "supports_block_cache", False):
            raise UsageError(f"commit fast_dllm_v2 takes a block's first token from the previous block's last "
                             f"prediction, which needs shifted logits (output i predicts token i + 1, Fast-dLLM v2) "
                             f"and block-cache windows; {name} has not both")
        if self.spec.cfg_scale > 0:
            raise UsageError("commit fast_dllm_v2 cannot take cfg_scale: Fast-dLLM v2's passes have no guidance")
        return SubBlockForward(model, prompt_len, mask_id, self.spec.block_length,
                               self.spec.sub_block_length or self.spec.block_length, self.spec.use_block_cache)

    def select(self, step):
        # Fast-dLLM v2: unmask_idx = x1_p > threshold, then unmask_idx[x1_p.argmax()] = True (masks only)
        over = (step.score > self.spec.threshold) & step.candidates
        return over | take_top_k(step, 1)


def make_commit_rule(spec: DecoderSpec, gen_length: int) -> CommitRule:
    if gen_length < 1:
        raise UsageError(f"gen_length must be >= 1, got {gen_length}")
    return COMMIT_RULES[spec.commit](spec, gen_length)
