"""pass@k: the probability that k of n samples of one prompt, c of them correct, include a correct one, by the
unbiased estimator pass@k = 1 - C(n - c, k) / C(n, k) (Chen et al. 2021, arXiv 2107.03374, eq. 1). Shared by the
trainer's held-out diagnostics and the leaderboard; imports nothing heavy."""
from __future__ import annotations

from math import comb


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that k of n samples, c of them correct, include a correct one (unbiased estimator; k <= n)."""
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n = {n} samples per prompt")
    return 1.0 if n - c < k else 1.0 - comb(n - c, k) / comb(n, k)
