"""The physical limit of a forward pass (a roofline, Williams et al. 2009): its multiply-adds and bytes, the
machine's measured rates, and the time the pass would take at them, max(MACs / MAC rate, bytes / bandwidth).

Counts are for the LLaDA architecture (`mdlm_eval.models.llada`: Llama-style blocks, bidirectional attention,
untied output head), per pass of `batch` rows feeding `fed` positions that attend over `keys` positions and
project `logits` positions onto the vocabulary:
  layers     batch * fed * n_layers * (d (d + 2 kv) + d d + 3 d ff)      q, k, v, attn_out, ff_proj, up_proj, ff_out
  attention  batch * fed * n_layers * 2 * keys * n_heads * head_dim        q k^T and p v
  head       batch * logits * d * vocab
  bytes      every weight once, the keys and values attended over, the inputs and outputs of each linear map, and
             the logits (elementwise work, norms and rotary tables are left out: a few percent of the bytes).
The loop's passes: uncached (the whole canvas, logits of the current block), the first pass of a block with a
cache (the same, keys and values kept), prefix (the block and everything after it) and dual (the block alone).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Shape:
    """The sizes a LLaDA-architecture pass costs by."""

    d_model: int
    n_layers: int
    n_heads: int
    kv_heads: int
    ff_hidden: int
    vocab: int

    @classmethod
    def of(cls, config) -> "Shape":
        """From a `LladaConfig`."""
        return cls(config.d_model, config.n_layers, config.n_heads, config.kv_heads, config.ff_hidden,
                   config.embedding_size or config.vocab_size)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_width(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def layer_weights(self) -> int:
        """Multiply-adds per position per layer in the linear maps = the layer's weight count."""
        d = self.d_model
        return d * (d + 2 * self.kv_width) + d * d + 3 * d * self.ff_hidden


# LLaDA-8B-Instruct's config.json (GSAI-ML/LLaDA-8B-Instruct): d_model 4096, 32 layers, 32 heads, mlp 12288.
LLADA_8B = Shape(d_model=4096, n_layers=32, n_heads=32, kv_heads=32, ff_hidden=12288, vocab=126_464)


@dataclass(frozen=True)
class Pass:
    """One forward call: `batch` rows, `fed` positions fed, attending over `keys`, `logits` positions projected."""

    batch: int
    fed: int
    keys: int
    logits: int


@dataclass(frozen=True)
class Cost:
    layers: float = 0.0
    attention: float = 0.0
    head: float = 0.0
    bytes: float = 0.0

    @property
    def macs(self) -> float:
        return self.layers + self.attention + self.head

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.layers + other.layers, self.attention + other.attention, self.head + other.head,
                    self.bytes + other.bytes)

    def __mul__(self, k: float) -> "Cost":
        return Cost(self.layers * k, self.attention * k, self.head * k, self.bytes * k)

    def shares(self) -> dict[str, float]:
        """Each part's share of the multiply-adds."""
        return {"layers": self.layers / self.macs, "attention": self.attention / self.macs,
                "head": self.head / self.macs}


def pass_cost(shape: Shape, p: Pass, dtype_bytes: int = 2) -> Cost:
    """Multiply-adds and bytes of one pass (the module docstring gives the formulas)."""
    d, ff, kv, L = shape.d_model, shape.ff_hidden, shape.kv_width, shape.n_layers
    rows = p.batch * p.fed
    layers = rows * L * shape.layer_weights
    attention = rows * L * 2 * p.keys * shape.n_heads * shape.head_dim
    head = p.batch * p.logits * d * shape.vocab
    weights = L * shape.layer_weights + shape.vocab * d
    # inputs + outputs of q/k/v, attn_out, ff_proj with up_proj, ff_out, per fed position and layer
    activations = rows * L * ((d + d + 2 * kv) + 2 * d + (d + 2 * ff) + (ff + d))
    keys_values = p.batch * L * 2 * p.keys * kv
    logits = p.batch * p.logits * shape.vocab
    return Cost(layers, attention, head, dtype_bytes * (weights + activations + keys_values + logits))


def decode_passes(prompt_len: int, blocks: list[tuple[int, int]], nfe: float, cache: str,
                  batch: int = 1) -> list[tuple[Pass, float]]:
    """(pass, how many) of a decode of one row making `nfe` passes over the generation `blocks` [(start, end)],
    relative to the generation's start: one full pass per block when cached, the other passes spread evenly over
    the blocks (their count per block is not recorded)."""
    total = prompt_len + blocks[-1][1]
    full = [(Pass(batch, total, total, end - start), 1.0) for start, end in blocks]
    if cache == "none":
        return [(p, nfe / len(blocks)) for p, _ in full]
    rest = (nfe - len(blocks)) / len(blocks)
    windows = [(end - start if cache == "dual" else total - prompt_len - start, end - start) for start, end in blocks]
    return full + [(Pass(batch, fed, total, width), rest) for fed, width in windows]


def macs_per_token(shape: Shape, prompt_len: int, blocks: list[tuple[int, int]], nfe: float, cache: str) -> float:
    """Multiply-adds per generated position of a decode (see `decode_passes`)."""
    passes = decode_passes(prompt_len, blocks, nfe, cache)
    return sum(pass_cost(shape, p).macs * n for p, n in passes) / blocks[-1][1]


@contextmanager
def recorded_passes(model: torch.nn.Module):
    """The `Pass` of every call of `model` inside the block (the loop's calling convention: ids first,
    `past_key_values`, `logits_range`)."""
    passes: list[Pass] = []

    def record(module, args, kwargs):
        ids = args[0] if args else kwargs["input_ids"]
        batch, fed = ids.shape
        cache = kwargs.get("past_key_values")
        keys = fed if cache is None else cache[0][0].shape[2]
        span = kwargs.get("logits_range")
        passes.append(Pass(batch, fed, keys, fed if span is None else span[1] - span[0]))

    handle = model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        yield passes
    finally:
        handle.remove()


@dataclass(frozen=True)
class Rates:
    """Measured multiply-adds per second (one large matrix product) and bytes per second (one large copy)."""

    macs_per_second: float
    bytes_per_second: float

    def seconds(self, cost: Cost) -> float:
        """The roofline time: the pass can go no faster than its multiply-adds or its bytes allow."""
        return max(cost.macs / self.macs_per_second, cost.bytes / self.bytes_per_second)

    def describe(self) -> str:
        return f"{self.macs_per_second / 1e9:,.0f} GMAC/s, {self.bytes_per_second / 1e9:,.1f} GB/s"


def best_seconds(work, repeats: int, device: torch.device) -> float:
    """The fastest of `repeats` timed calls of `work` after one warm-up (the device synchronised around each)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    work()
    best = float("inf")
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        work()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def measure_rates(device="cpu", dtype=torch.float32, size: int | None = None, copy_mib: int | None = None,
                  repeats: int = 5) -> Rates:
    """Best of `repeats`: an n x n by n x n product (n^3 multiply-adds) and a copy (reads and writes its bytes),
    in `dtype` with torch's current threads."""
    device = torch.device(device)
    gpu = device.type == "cuda"
    n = size or (8192 if gpu else 1024)
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    out = torch.empty(n, n, device=device, dtype=dtype)
    matmul = best_seconds(lambda: torch.mm(a, b, out=out), repeats, device)
    count = (copy_mib or (2048 if gpu else 256)) * 2**20 // (torch.finfo(dtype).bits // 8)
    src, dst = torch.ones(count, device=device, dtype=dtype), torch.empty(count, device=device, dtype=dtype)
    copy = best_seconds(lambda: dst.copy_(src), repeats, device)
    return Rates(n ** 3 / matmul, 2 * src.nbytes / copy)
