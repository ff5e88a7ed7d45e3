"""How many tokens each forward pass unmasks, and where.

A *plan* is the list of steps of one decode, one forward pass each. Every step names the right edge of the
region it may unmask (`end`, relative to the first generated position: the current block's end) and how
many tokens it commits (`k`). The same plan holds for every row of a batch, since every row starts from an
all-mask canvas of the same length.
"""
from __future__ import annotations

from dataclasses import dataclass

from mdlm_eval.errors import UsageError


@dataclass(frozen=True)
class Step:
    index: int  # global step 0 .. S-1
    local: int  # the step counter the reference passes to its EOS schedule (see each plan)
    end: int  # positions [0, end) of the canvas may be unmasked at this step
    k: int  # tokens committed at this step


def uniform_counts(masked: int, steps: int) -> list[int]:
    """LLaDA's `get_num_transfer_tokens`: masked // steps each, the first (masked % steps) steps one more."""
    base, extra = divmod(masked, steps)
    return [base + (1 if i < extra else 0) for i in range(steps)]


def uniform_plan(gen_length: int, steps: int, block_length: int) -> list[Step]:
    """Semi-autoregressive blocks, left to right (LLaDA `generate`; one block = full diffusion).

    Each block of `block_length` tokens gets steps // num_blocks steps. LLaDA asserts that this divides;
    here the remainder goes to the first blocks (one more step each) so that exactly `steps` passes are
    made. `local` is the step index inside the block, as `eoser_generate` passes it to its gamma schedule.
    """
    if block_length < 1 or gen_length % block_length:
        raise UsageError(f"block_length {block_length} must be a positive divisor of gen_length {gen_length}")
    num_blocks = gen_length // block_length
    if steps < num_blocks:
        raise UsageError(
            f"steps {steps} is fewer than the {num_blocks} blocks of {block_length} tokens: "
            f"every block needs at least one step (raise steps or block_length)"
        )
    plan: list[Step] = []
    for b, block_steps in enumerate(uniform_counts(steps, num_blocks)):
        for i, k in enumerate(uniform_counts(block_length, block_steps)):
            plan.append(Step(index=len(plan), local=i, end=(b + 1) * block_length, k=k))
    return plan


def log_steps(gen_length: int) -> int:
    """floor(log2 L): the step budget of ascending step sizes."""
    return gen_length.bit_length() - 1


def ascending_plan(gen_length: int, steps: int, block_num: int = 1) -> list[Step]:
    """Ascending step sizes (ASS, arXiv 2509.23924; EOSER-ASS-RL `ass_generate`).

    S = floor(log2 L) steps; step s < S-1 unmasks 2^s tokens and step S-1 the rest, L - (2^(S-1) - 1):
    L=256 -> 1,2,4,...,64,129. With block_num k > 1 the blocks are right-anchored and grow to the right:
    the last block (2^(S-1) + 1 + L - 2^S tokens) is filled at step S-1, the blocks before it hold
    2^(S-2), 2^(S-3), ... tokens filled in one step each, and the first block takes the rest over steps
    0 .. S-k (L=256, k=4 -> blocks 31, 32, 64, 129). `local` is the global step, as the reference passes it.
    """
    S = log_steps(gen_length)
    if S < 1:
        raise UsageError(f"ascending step sizes need gen_length >= 2, got {gen_length}")
    if steps != S:
        raise UsageError(
            f"ascending step sizes take exactly floor(log2 {gen_length}) = {S} steps, got {steps} (use steps=log)"
        )
    if not 1 <= block_num <= S:
        raise UsageError(f"block_num must be between 1 and steps ({S}), got {block_num}")
    counts = [2**s for s in range(S - 1)] + [gen_length - (2 ** (S - 1) - 1)]
    # Block ends from the right: step S-1 may reach L; each earlier single-step block ends where the
    # next one starts; the first block's steps 0 .. S-block_num all end at the first block's end.
    ends = [gen_length] * S
    edge = gen_length
    for s in range(S - 1, S - block_num, -1):
        ends[s] = edge
        edge -= counts[s]
    for s in range(S - block_num + 1):
        ends[s] = edge
    return [Step(index=s, local=s, end=ends[s], k=counts[s]) for s in range(S)]


def ascending_block_plan(gen_length: int, steps: int, block_length: int) -> list[Step]:
    """Ascending step sizes inside each block of `block_length`, left to right (blocks of a block-causal model, or
    semi-autoregressive ASS): every block is decoded as `ascending_plan(block_length, floor(log2 B))`, so it takes
    floor(log2 B) steps (B = 32: 1, 2, 4, 8, 17). `local` is the step inside the block, the clock of its EOS
    schedule, as if each block were its own ASS decode."""
    if block_length < 2 or gen_length % block_length:
        raise UsageError(f"ascending step sizes in blocks need a block_length >= 2 that divides gen_length "
                         f"{gen_length}, got {block_length}")
    per_block, num = log_steps(block_length), gen_length // block_length
    if steps != per_block * num:
        raise UsageError(f"ascending step sizes in {num} blocks of {block_length} take floor(log2 {block_length}) = "
                         f"{per_block} steps per block, {per_block * num} in all, got {steps} (use steps=log)")
    plan: list[Step] = []
    for b in range(num):
        for step in ascending_plan(block_length, per_block):
            plan.append(Step(index=len(plan), local=step.local, end=b * block_length + step.end, k=step.k))
    return plan


def count_plan(spec, gen_length: int, steps: int) -> list[Step]:
    """The count rule's plan: ascending step sizes over the canvas (`block_num` right-anchored blocks) or inside
    each block of `block_length`; else LLaDA's uniform counts in blocks of `block_length` (one block when None)."""
    if spec.schedule == "ascending" and spec.block_length is not None:
        return ascending_block_plan(gen_length, steps, spec.block_length)
    if spec.schedule == "ascending":
        return ascending_plan(gen_length, steps, spec.block_num)
    return uniform_plan(gen_length, steps, spec.block_length or gen_length)


def block_caps(gen_length: int, block_length: int | None, cap: int | None) -> list[tuple[int, int, int | None]]:
    """(start, end, cap) of blocks of `block_length` (one block when None), a cap spread over them as LLaDA
    spreads steps (None: uncapped): the layout of the rules other than `count`."""
    length = block_length or gen_length
    if gen_length % length:
        raise UsageError(f"block_length {length} must be a positive divisor of gen_length {gen_length}")
    num = gen_length // length
    if cap is None:
        caps = [None] * num
    elif cap < num:
        raise UsageError(f"steps {cap} is fewer than the {num} blocks of {length} tokens: "
                         f"every block needs at least one step (raise steps or block_length)")
    else:
        caps = uniform_counts(cap, num)
    return [(b * length, (b + 1) * length, caps[b]) for b in range(num)]


def one_block(commit: str, block_length: int | None, gen_length: int) -> None:
    """Rules on a time grid over the whole canvas (Dream's) take no blocks."""
    if block_length not in (None, gen_length):
        raise UsageError(f"commit {commit} decodes the canvas as one block; drop block_length")


ONE_BLOCK_COMMITS = ("dream", "dream_origin")


def check_layout(spec, gen_length: int) -> None:
    """Every check of a decoder's layout at `gen_length` (steps against the length, blocks), without torch:
    what `make_commit_rule(spec, gen_length)` refuses."""
    if gen_length < 1:
        raise UsageError(f"gen_length must be >= 1, got {gen_length}")
    cap = spec.resolve_steps(gen_length)
    if spec.commit == "count":
        count_plan(spec, gen_length, cap)
    elif spec.commit in ONE_BLOCK_COMMITS:
        one_block(spec.commit, spec.block_length, gen_length)
    else:
        block_caps(gen_length, spec.block_length, cap)
