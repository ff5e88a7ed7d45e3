"""Per-row random streams, so a sampled row draws the same noise alone or in any batch."""
from __future__ import annotations

import torch


class RowNoise:
    """One `torch.Generator` per batch row, seeded by the caller (e.g. from seed, task and document)."""

    def __init__(self, seeds: list[int], device: torch.device):
        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
        self.device = device

    def uniform(self, rows: torch.Tensor, width: int, dtype: torch.dtype) -> torch.Tensor:
        """U(0, 1) of shape [len(rows), width]; `rows` (the batch row of each entry) must be sorted."""
        counts = torch.bincount(rows, minlength=len(self.generators)).tolist()
        draws = [
            torch.rand(n, width, generator=g, dtype=dtype, device=self.device)
            for g, n in zip(self.generators, counts)
            if n
        ]
        return torch.cat(draws) if draws else torch.empty(0, width, dtype=dtype, device=self.device)
