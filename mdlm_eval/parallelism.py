"""Hardware-independent measures of parallel decoding: tokens per forward (TPF) and accuracy under parallelism
(AUP, d3LLM: arXiv 2601.07568; the formula as github hao-ai-lab/d3LLM `AUP_leaderboard/aup_utils.py` computes it).

TPF = tokens up to and including the first EOS / forward passes (a row that never emits EOS counts all its
generated tokens): the tokens a decode commits per pass that a reader sees, whatever the machine.
"""
from __future__ import annotations

import math
from typing import Sequence


def tokens_through_eos(generated, eos_ids: Sequence[int]) -> list[int]:
    """Per row of `generated` [batch, L] (a LongTensor): the tokens up to and including its first EOS (L without
    one)."""
    import torch

    is_eos = torch.isin(generated, torch.tensor(list(eos_ids), device=generated.device))
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1) + 1, generated.shape[1])
    return first.tolist()


def quality_weight(y: float, y_max: float, alpha: float = 3.0) -> float:
    """W(y) = min(exp(-alpha (1 - y / y_max)), 1): accuracy below the best is discounted."""
    return min(math.exp(-alpha * (1 - y / y_max)), 1.0)


def aup(tpf: Sequence[float], accuracy: Sequence[float], y_max: float | None = None, alpha: float = 3.0,
        y_min_offset: float = 5.0) -> float:
    """Accuracy under parallelism of the (TPF, accuracy in %) points of one decoder swept over a knob.

    Points sorted by TPF; those more than `y_min_offset` points below the first (lowest-TPF) point's accuracy are
    dropped; AUP = rho_1 y_1 + sum_i (rho_i - rho_{i-1}) (y_i W(y_i) + y_{i-1} W(y_{i-1})) / 2, with W the
    `quality_weight` against `y_max` (the best accuracy among the methods compared; default: of these points).
    Same values as d3LLM's `get_aup`, which instead refuses a sweep whose highest-TPF point falls below the floor.
    """
    if len(tpf) != len(accuracy) or not tpf or min(tpf) <= 0:
        raise ValueError("aup needs as many positive TPF values as accuracies, at least one")
    points = sorted(zip(tpf, accuracy))
    floor = points[0][1] - y_min_offset
    points = [(r, y) for r, y in points if y >= floor]
    y_max = max(accuracy) if y_max is None else y_max
    total = points[0][0] * points[0][1]
    for (r0, y0), (r1, y1) in zip(points, points[1:]):
        total += 0.5 * (r1 - r0) * (y1 * quality_weight(y1, y_max, alpha) + y0 * quality_weight(y0, y_max, alpha))
    return total


def run_fields(per_sample: list[dict], spec, gen_length: int) -> dict:
    """A run's manifest fields from its per-sample records (None where a record predates them):
    `tpf`, tokens through the first EOS over forward passes, all samples together; `llada8b_macs_per_token`,
    the multiply-adds per generated position the run's passes would cost in LLaDA-8B's shapes (each sample's
    prompt length and NFE, `roofline.macs_per_token`; twice with classifier-free guidance), a figure that does not
    depend on the machine or the model."""
    from mdlm_eval.decoding.commit import make_commit_rule
    from mdlm_eval.roofline import LLADA_8B, macs_per_token

    if not per_sample or any("tokens_to_eos" not in r or "prompt_tokens" not in r for r in per_sample):
        return {"tpf": None, "llada8b_macs_per_token": None}
    blocks = [(b.start, b.end) for b in make_commit_rule(spec, gen_length).blocks]
    guided = 2 if spec.cfg_scale > 0 else 1
    macs = [guided * macs_per_token(LLADA_8B, r["prompt_tokens"], blocks, r["nfe"], spec.cache) for r in per_sample]
    return {"tpf": sum(r["tokens_to_eos"] for r in per_sample) / sum(r["nfe"] for r in per_sample),
            "llada8b_macs_per_token": sum(macs) / len(macs)}
