"""Per-row random streams, so a sampled row draws the same noise alone or in any batch."""
from __future__ import annotations

import torch


class RowNoise:
    """One `torch.Generator` per batch row, seeded by the caller (e.g. from seed, task and document)."""

    def __init__(self, seeds: list[int], device: torch.device):
        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
        self.device = device

    def uniform(self, rows: list[int], counts: list[int], width: int, dtype: torch.dtype) -> torch.Tensor:
        """U(0, 1) of shape [sum(counts), width]: counts[i] draws from batch row rows[i]'s stream, in order."""
        draws = [
            torch.rand(n, width, generator=self.generators[r], dtype=dtype, device=self.device)
            for r, n in zip(rows, counts)
            if n
        ]
        return torch.cat(draws) if draws else torch.empty(0, width, dtype=dtype, device=self.device)
