"""Block caches: the forward classes of `cache: prefix | dual` (Fast-dLLM, arXiv 2505.22618, github
NVlabs/Fast-dLLM `llada/generate.py` `generate_with_prefix_cache`, `generate_with_dual_cache`).

At the first step of each block one full forward fills the cache (every layer's keys and values of the whole
canvas) and serves as that step. Later steps of the block feed only a window and take the other keys and values
from the cache: prefix: the block and everything after it (the prompt and finished blocks are cached); dual: the
block alone (the masked suffix is cached too). Unlike Fast-dLLM, the padding mask is honoured in cached
attention, so each row of a left-padded batch decodes as alone.

Every forward here (and `BlockForward`, the uncached one) asks the model for the current block's logits only
(`logits_range`), the only ones the loop reads. The model side is duck-typed (`supports_block_cache`,
`use_cache`, `past_key_values`, `window_start`, `logits_range`; `logits_lead`: how many positions left of the
block a window must start): the native LLaDA and Dream models and the toy have it.
"""
from __future__ import annotations

import torch

from mdlm_eval.decoding.forward import Forward
from mdlm_eval.decoding.spec import DecoderSpec
from mdlm_eval.errors import UsageError


def supports_block_cache(model: torch.nn.Module) -> bool:
    return bool(getattr(model, "supports_block_cache", False))


def own_forward(rule) -> bool:
    """Whether the commit rule brings its own forward class (WINO's shadow block)."""
    from mdlm_eval.decoding.commit import CommitRule

    return rule is not None and type(rule).make_forward is not CommitRule.make_forward


def check_cache(spec: DecoderSpec, model: torch.nn.Module, rule) -> None:
    """One line, before any forward pass, for a cache the model or the decoder cannot take."""
    cache = spec.cache
    if cache == "none":
        return
    if getattr(model, "block_causal", False):  # models/block_causal.py protocol
        name = type(model).__name__
        raise UsageError(f"cache={cache} is the approximate cache of bidirectional models; {name} is block-causal "
                         f"(a block attends only to earlier blocks, whose keys and values never change): use cache=none")
    if not supports_block_cache(model):
        name = type(getattr(model, "model", model)).__name__
        raise UsageError(f"cache={cache} needs a model with block-cache support (the native LLaDA and Dream "
                         f"models, the toy); {name} has none: use cache=none")
    # cache with guidance, or with a rule of its own forward (`OWN_FORWARD_COMMITS`): refused by DecoderSpec itself
    if cache == "dual" and getattr(rule, "commits_outside_block", False):
        raise UsageError(f"cache=dual caches everything outside the current block, but commit rule {spec.commit} "
                         f"also changes tokens outside it; use cache=prefix or none")


class BlockForward(Forward):
    """Uncached: the model over the whole canvas, logits of the current block only."""

    def __call__(self, x, attention_mask, block_start, block_end, first_step_of_block):
        out = self.model(x, attention_mask=attention_mask, logits_range=(block_start, block_end), **self.model_kwargs)
        return out.logits, block_start


class CachedForward(Forward):
    """`prefix` or `dual` block cache; rows that leave the forward batch mid-block leave the cache too."""

    def __init__(self, model: torch.nn.Module, mode: str):
        super().__init__(model)
        self.mode = mode
        self.cache = None
        self.cache_rows: torch.Tensor | None = None  # batch index of each cached row; None: the whole batch

    def _rows_of_cache(self) -> tuple:
        """The cache restricted to the rows of this call (`self.rows`, a subset of the cached rows)."""
        rows = self.rows
        if rows is None or (self.cache_rows is not None and torch.equal(rows, self.cache_rows)):
            return self.cache
        keep = rows if self.cache_rows is None else torch.searchsorted(self.cache_rows, rows)
        self.cache = tuple((k[keep], v[keep]) for k, v in self.cache)
        self.cache_rows = rows
        return self.cache

    def __call__(self, x, attention_mask, block_start, block_end, first_step_of_block):
        if first_step_of_block:
            out = self.model(x, attention_mask=attention_mask, use_cache=True, logits_range=(block_start, block_end))
            self.cache, self.cache_rows = out.past_key_values, self.rows
            return out.logits, block_start
        end = block_end if self.mode == "dual" else x.shape[1]
        start = max(block_start - getattr(self.model, "logits_lead", 0), 0)  # Dream: logits i come from output i-1
        out = self.model(x[:, start:end], attention_mask=attention_mask, past_key_values=self._rows_of_cache(),
                         window_start=start, logits_range=(block_start, block_end))
        return out.logits, block_start


class BlockCausalForward(Forward):
    """The exact block cache of a block-causal model (`models/block_causal.py`; SDAR's `block_diffusion_generate`
    passes): keys and values of finished blocks never change, so they are computed once. Before the first pass of a
    block, one pass over the positions not yet cached (the prompt's full blocks at the start, then the block just
    finished) stores their keys and values; each pass of the block then feeds the block alone and reads the cache.
    The loop's NFE counts the passes over the block, as the references count steps; `store_passes` counts the
    others. Rows done with the canvas leave the cache."""

    def __init__(self, model: torch.nn.Module):
        super().__init__(model)
        self.cache, self.cache_rows, self.cached, self.store_passes = None, None, 0, 0
        self.lead = getattr(model, "logits_lead", 0)

    def _select(self, cache, rows):
        keep = rows if self.cache_rows is None else torch.searchsorted(self.cache_rows, rows)
        return tuple((k[keep], v[keep]) for k, v in cache)

    def __call__(self, x, attention_mask, block_start, block_end, first_step_of_block):
        rows = self.rows if self.rows is not None else torch.arange(x.shape[0], device=x.device)
        cache = None if self.cache is None else self._select(self.cache, rows)
        if first_step_of_block and self.cached < block_start:  # store what finished since the last store
            am = None if attention_mask is None else attention_mask[:, :block_start]
            last = (block_start - 1, block_start) if block_start - self.cached > self.lead else None  # unread
            out = self.model(x[:, self.cached:block_start], attention_mask=am, past_key_values=cache,
                             window_start=self.cached, use_cache=True, logits_range=last, **self.model_kwargs)
            fresh = out.past_key_values
            cache = fresh if cache is None else tuple(
                (torch.cat([k, nk], dim=2), torch.cat([v, nv], dim=2)) for (k, v), (nk, nv) in zip(cache, fresh))
            self.cache, self.cache_rows, self.cached = cache, rows, block_start
            self.store_passes += 1
        am = None if attention_mask is None else attention_mask[:, :block_end]
        start = max(block_start - self.lead, 0)  # shifted logits (Fast-dLLM v2): position i's from output i - 1
        if cache is not None and start < block_start:
            cache = tuple((k[:, :, :start], v[:, :, :start]) for k, v in cache)
        out = self.model(x[:, start:block_end], attention_mask=am, past_key_values=cache, window_start=start,
                         logits_range=(block_start, block_end), **self.model_kwargs)
        return out.logits, block_start


class SubBlockForward(Forward):
    """The passes of Fast-dLLM v2's `generate` with `use_block_cache=True` (the hub checkpoint
    Efficient-Large-Model/Fast_dLLM_v2_7B, modeling.py), for `FastDLLMV2Rule`, on a shifted-logits model
    (`ShiftedLogits`: the logits of position i are output i - 1). Blocks of B hold sub-blocks of S.

    - A window at a block's first position a: one pass over the positions not yet cached ([a - B, a); the prompt's
      full blocks at the first block: the prefill) that appends them to the prefix cache; its last output is the
      logits of position a (the reference's `next_token`).
    - A window in the sub-block [s, s + S): a full-block pass over x[a:a + B] reading the prefix cache, which also
      keeps the block's keys and values (the block cache), when the row has no block cache for this block yet or
      x[s] is masked; else a pass over x[s:s + S] alone that reads the prefix and the block cache, the window's
      own keys and values replacing the cached ones. Its logits of position s would be its own output s (the
      reference's `cat(logits[:, :1], logits[:, :-1])`), which is never read: x[s] is not masked there.
      Without `use_block_cache`, every pass of a sub-block is a whole-block pass.

    Every row keeps its own caches (rows of a sub-block differ in which pass they take, and a row with no mask in
    a sub-block skips it). Prompt blocks a row needs but has not stored yet are stored first (`store_passes`,
    not counted, as `BlockCausalForward`'s)."""

    def __init__(self, model, prompt_len: int, mask_id: int, block_length: int, sub_block_length: int,
                 use_block_cache: bool = True):
        super().__init__(model)
        self.g, self.mask_id, self.B, self.S = prompt_len, mask_id, block_length, sub_block_length
        self.use_block_cache = use_block_cache  # False: every pass over the whole block
        self.prefix: dict[int, list] = {}  # batch row -> per layer (K, V) [1, h, upto, d]
        self.upto: dict[int, int] = {}  # batch row -> columns its prefix cache holds
        self.block: dict[int, tuple[int, list]] = {}  # batch row -> (block start, per layer (K, V) of the block)
        self.store_passes = 0

    def _past(self, rows: list[int], upto: int, block: bool = False):
        if upto == 0 and not block:
            return None
        layers = []
        for i in range(len(self.prefix.get(rows[0], [])) or len(self.block[rows[0]][1])):
            parts = [[], []]
            for r in rows:
                for j in (0, 1):
                    kv = [self.prefix[r][i][j][:, :, :upto]] if upto else []
                    parts[j].append(torch.cat(kv + [self.block[r][1][i][j]], 2) if block else kv[0])
            layers.append((torch.cat(parts[0]), torch.cat(parts[1])))
        return tuple(layers)

    def _store(self, x, attention_mask, idx: list[int], rows: list[int], a: int) -> torch.Tensor:
        """Append [upto, a) to the prefix cache of the call's rows `idx`; the logits of position a, [len(idx), 1, V]."""
        logits = [None] * len(idx)
        for u in sorted({self.upto.get(rows[i], 0) for i in idx}):
            group = [i for i in idx if self.upto.get(rows[i], 0) == u]
            sel = torch.tensor(group, device=x.device)
            am = None if attention_mask is None else attention_mask[sel, :a]
            out = self.model(x[sel, u:a], attention_mask=am, past_key_values=self._past([rows[i] for i in group], u),
                             window_start=u, use_cache=True, logits_range=(a, a + 1), **self.model_kwargs)
            for n, i in enumerate(group):
                r = rows[i]
                fresh = [(k[n:n + 1], v[n:n + 1]) for k, v in out.past_key_values]
                self.prefix[r] = fresh if u == 0 else [
                    (torch.cat([k, nk], 2), torch.cat([v, nv], 2)) for (k, v), (nk, nv) in zip(self.prefix[r], fresh)]
                self.upto[r] = a
                logits[idx.index(i)] = out.logits[n:n + 1]
        return torch.cat(logits)

    def __call__(self, x, attention_mask, block_start, block_end, first_step_of_block):
        rows = self.rows.tolist() if self.rows is not None else list(range(x.shape[0]))
        every = list(range(len(rows)))
        a = self.g + (block_start - self.g) // self.B * self.B  # the attention block holding the window
        if block_start == a:  # the block's first token: the pass that stores what precedes it
            if any(self.upto.get(r, 0) >= a for r in rows):
                raise RuntimeError(f"the first token of the block at {a} needs a pass that stores the block before it")
            return self._store(x, attention_mask, every, rows, a), a
        behind = [i for i in every if self.upto.get(rows[i], 0) < a]
        if behind:  # prompt blocks of rows that had no mask before this window (not a pass of the reference's)
            self._store(x, attention_mask, behind, rows, a)
            self.store_passes += 1
        s = a + (block_start - a) // self.S * self.S  # the sub-block
        full = [i for i in every if not self.use_block_cache or self.block.get(rows[i], (None,))[0] != a
                or bool(x[i, s] == self.mask_id)]
        logits = [None] * len(rows)
        if full:
            sel = torch.tensor(full, device=x.device)
            am = None if attention_mask is None else attention_mask[sel, :a + self.B]
            past = self._past([rows[i] for i in full], a)
            out = self.model(x[sel, a:a + self.B], attention_mask=am, past_key_values=past, window_start=a,
                             use_cache=True, logits_range=(block_start, block_end), **self.model_kwargs)
            for n, i in enumerate(full):
                self.block[rows[i]] = (a, [(k[n:n + 1], v[n:n + 1]) for k, v in out.past_key_values])
                logits[i] = out.logits[n:n + 1]
        cached = [i for i in every if i not in full]
        if cached:
            sel = torch.tensor(cached, device=x.device)
            am = None if attention_mask is None else attention_mask[sel, :a + self.B]
            first = max(block_start, s + 1)  # position s's logits need output s - 1, outside the window
            out = self.model(x[sel, s:s + self.S], attention_mask=am,
                             past_key_values=self._past([rows[i] for i in cached], a, block=True), window_start=s,
                             logits_range=(first, block_end), **self.model_kwargs)
            part = out.logits if first == block_start else torch.cat([out.logits[:, :1], out.logits], 1)
            for n, i in enumerate(cached):
                logits[i] = part[n:n + 1]
        return torch.cat(logits), block_start


def make_block_forward(model: torch.nn.Module, spec: DecoderSpec, rule, prompt_len: int, mask_id: int) -> Forward:
    """The loop's forward for `spec.cache`, checked first; uncached models with block-cache support get
    block-only logits, block-causal ones their exact block cache."""
    check_cache(spec, model, rule)
    if spec.cache != "none":
        return CachedForward(model, spec.cache)
    if getattr(model, "block_causal", False) and supports_block_cache(model) and spec.cfg_scale == 0 \
            and not own_forward(rule):
        return BlockCausalForward(model)
    if spec.cfg_scale == 0 and supports_block_cache(model) and not own_forward(rule):
        return BlockForward(model)
    return rule.make_forward(model, prompt_len, mask_id)
