"""Throughput of the block caches (part of `make bench`): tokens per second, forward passes and tokens per
forward for `semi_ar` at L/2 steps (the d1 protocol) without and with each cache, `threshold` (tau 0.9),
`threshold` + prefix cache and `threshold` + dual cache, at each L and batch size, each speed-up as a ratio to
`semi_ar` L/2 without a cache measured in the same run. `semi_ar` with a cache commits the same two tokens per
forward as without, so its ratio is the cache's saving per forward alone.

Tokens are counted up to each row's first EOS (EOS excluded), as Fast-dLLM counts them (arXiv 2505.22618).
Forward passes are the model calls of the batch; tokens per forward = counted tokens (all rows) / passes.

On a CPU this runs a LLaDA-shaped model with random weights (`bench_model`): LLaDA's vocabulary (126,464),
head size (128), mask and EOS ids, reduced depth and width, on prompts of about 800 tokens, the length of the
5-shot GSM8K prompts of Fast-dLLM's Table 1 (3,030 characters on average over GSM8K test). `scripts/gpu_check.py`
times the same table with LLaDA-8B-Instruct's weights on a GPU, on 5-shot GSM8K prompts.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch

from mdlm_eval import decode
from mdlm_eval.models.llada import LladaConfig, LladaModelLM

MASK, EOS, LLADA_VOCAB = 126_336, 126_081, 126_464
BASELINE = "semi_ar L/2"
# name: (preset, cache, extra decode arguments)
DECODERS = {
    BASELINE: ("semi_ar", "none", {"steps": "half"}),
    f"{BASELINE}+prefix": ("semi_ar", "prefix", {"steps": "half"}),
    f"{BASELINE}+dual": ("semi_ar", "dual", {"steps": "half"}),
    "threshold": ("threshold", "none", {}),
    "threshold+prefix": ("threshold", "prefix", {}),
    "threshold+dual": ("threshold", "dual", {}),
}


@dataclass
class Row:
    decoder: str
    gen_length: int
    batch: int
    seconds: float
    forwards: int
    tokens: int

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds

    @property
    def tokens_per_forward(self) -> float:
        return self.tokens / self.forwards

    @property
    def ms_per_forward(self) -> float:
        return 1000 * self.seconds / self.forwards


def bench_model(d_model: int = 128, n_layers: int = 8, qk_scale: float = 7.0, head_scale: float = 40.0,
                bulk_scale: float = 2.0, frequent: int = 256, seed: int = 0, frequent_seed: int = 1) -> LladaModelLM:
    """The native LLaDA class with LLaDA-8B's vocabulary, head size 128 and ids, `d_model / 128` heads,
    `n_layers` layers, SwiGLU width 3 d_model; weights N(0, 0.02), query/key projections times `qk_scale`, and
    the output head's rows times `head_scale` for `frequent` tokens drawn with `frequent_seed` and times
    `bulk_scale` for the rest.

    At N(0, 0.02) alone every masked position gets the same flat distribution and a threshold commits one token
    per step. The scales make attention depend on position and give logits shaped like a trained model's: a few
    hundred plausible tokens (top logits about 25) over a flat bulk, spanning about 50 nats. Scaling every row
    alike instead spans about 160 nats, and exp's results then fall below float32's normal range, where exp runs
    40x slower. The defaults are chosen so that, on an 800-token prompt at L = 256, tau 0.9 commits about as many
    tokens per forward as LLaDA-8B-Instruct does on GSM8K (2.5: Fast-dLLM Table 1, 16.5 / 6.7 tokens/s against
    one token per step) and the caches change that by under a fifth, as on the trained toy. Tokens per forward
    vary with the draw (1.4-2.3 for `frequent_seed` 1-4); `semi_ar`'s do not. A larger `qk_scale` makes the
    model chaotic (a stale cache then halves the tokens committed per forward, which trained models do not show);
    a smaller one makes it repeat a handful of tokens."""
    config = LladaConfig(d_model=d_model, n_heads=d_model // 128, n_layers=n_layers, mlp_hidden_size=3 * d_model)
    torch.manual_seed(seed)
    model = LladaModelLM(config).eval()
    head = model.model.transformer.ff_out.weight
    scale = torch.full((head.shape[0], 1), bulk_scale)
    draw = torch.Generator().manual_seed(frequent_seed)
    scale[torch.randperm(head.shape[0], generator=draw)[:frequent]] = head_scale
    with torch.no_grad():
        for block in model.model.transformer.blocks:
            block.q_proj.weight.mul_(qk_scale)
            block.k_proj.weight.mul_(qk_scale)
        head.mul_(scale)
    return model


def prompts(batch: int, seed: int = 0, device: str = "cpu", length: int = 800, spread: int = 32):
    """`batch` random prompts (ids below the special tokens), left-padded with EOS: one of `length` tokens, or
    several of lengths drawn from length +- spread."""
    g = torch.Generator().manual_seed(seed)
    sizes = (torch.randint(length - spread, length + spread + 1, (batch,), generator=g).tolist() if batch > 1
             else [length])
    width = max(sizes)
    ids = torch.full((batch, width), EOS, dtype=torch.long)
    mask = torch.zeros((batch, width), dtype=torch.long)
    for row, n in enumerate(sizes):
        ids[row, width - n:] = torch.randint(0, 100_000, (n,), generator=g)
        mask[row, width - n:] = 1
    return ids.to(device), (mask.to(device) if batch > 1 else None)


def tokens_to_eos(generated: torch.Tensor, eos_ids: list[int]) -> int:
    """Generated tokens before each row's first EOS, summed over rows (Fast-dLLM's throughput count)."""
    is_eos = torch.isin(generated, torch.tensor(eos_ids, device=generated.device))
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1), torch.full_like(is_eos[:, 0], generated.shape[1],
                                                                          dtype=torch.long))
    return int(first.sum())


def measure(model, decoder: str, gen_length: int, input_ids, attention_mask, mask_id: int = MASK,
            eos_ids: tuple[int, ...] = (EOS,)) -> Row:
    preset, cache, extra = DECODERS[decoder]
    sync = torch.cuda.synchronize if input_ids.is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    out = decode(model, input_ids, preset, gen_length=gen_length, mask_id=mask_id, eos_token_ids=list(eos_ids),
                 attention_mask=attention_mask, cache=cache, **extra)
    sync()
    seconds = time.perf_counter() - start
    tokens = tokens_to_eos(out.sequences[:, input_ids.shape[1]:], list(eos_ids))
    return Row(decoder, gen_length, input_ids.shape[0], seconds, out.nfe, tokens)


def throughput_table(model, make_prompts, gen_lengths=(256, 512), batches=(1, 8), mask_id: int = MASK,
                     eos_ids: tuple[int, ...] = (EOS,), progress=None) -> list[Row]:
    """Every decoder at every L and batch size; `progress(row)` is called as each row is measured."""
    rows = []
    for gen_length in gen_lengths:
        for batch in batches:
            ids, mask = make_prompts(batch)
            for decoder in DECODERS:
                rows.append(measure(model, decoder, gen_length, ids, mask, mask_id, eos_ids))
                if progress is not None:
                    progress(rows[-1])
    return rows


def ratio_lines(rows: list[Row]) -> list[str]:
    """`threshold+prefix vs semi_ar L/2 at L=256: 4.2x tokens/s` for every decoder, L and batch."""
    base = {(r.gen_length, r.batch): r for r in rows if r.decoder == BASELINE}
    batches = {r.batch for r in rows}
    lines = []
    for r in rows:
        if r.decoder == BASELINE:
            continue
        where = f"L={r.gen_length}" + (f", batch {r.batch}" if len(batches) > 1 else "")
        ratio = r.tokens_per_second / base[(r.gen_length, r.batch)].tokens_per_second
        lines.append(f"{r.decoder} vs {BASELINE} at {where}: {ratio:.1f}x tokens/s")
    return lines


HEADER = (f"{'decoder':20}{'L':>5}{'batch':>7}{'seconds':>9}{'forwards':>10}{'ms/fwd':>8}{'tokens':>8}{'tok/fwd':>9}"
          f"{'tok/s':>9}")


def format_row(r: Row) -> str:
    return (f"{r.decoder:20}{r.gen_length:5d}{r.batch:7d}{r.seconds:9.2f}{r.forwards:10d}{r.ms_per_forward:8.1f}"
            f"{r.tokens:8d}{r.tokens_per_forward:9.2f}{r.tokens_per_second:9.1f}")


def format_table(rows: list[Row]) -> str:
    return "\n".join([HEADER, *map(format_row, rows)])


def positive_ints(text: str) -> list[int]:
    """`256,512` -> [256, 512]; anything else is an argparse error (one line, exit 2)."""
    try:
        values = [int(n) for n in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    return values


def main(argv=None) -> None:
    """The `make bench` section: the table on the CPU-sized LLaDA-shaped model (or on CUDA when present)."""
    parser = argparse.ArgumentParser(description="block-cache throughput")
    parser.add_argument("--gen-lengths", type=positive_ints, default=[256, 512], help="multiples of 32")
    parser.add_argument("--batches", type=positive_ints, default=[1, 8])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--dim", type=int, default=128, help="a multiple of 128 (LLaDA's head size)")
    parser.add_argument("--prompt-length", type=int, default=800, help="at least 64 (batches draw +-32)")
    args = parser.parse_args(argv)
    bad_dim = args.dim < 128 or args.dim % 128
    if args.prompt_length < 64 or bad_dim or args.layers < 1 or any(n % 32 for n in args.gen_lengths):
        parser.error("--prompt-length must be >= 64, --dim a positive multiple of 128, --layers >= 1 and every "
                     "--gen-lengths value a multiple of 32 (the block length)")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = bench_model(args.dim, args.layers).to(device)
    print(f"\nblock caches: LLaDA-shaped random model ({args.layers} layers, d_model {args.dim}, head size 128, "
          f"vocab {LLADA_VOCAB:,}) on {device} with {torch.get_num_threads()} threads; prompts of "
          f"{args.prompt_length} tokens (batches: +-32, left-padded); blocks of 32, tau 0.9; tokens counted up to "
          f"the first EOS (Fast-dLLM's count)")
    print(HEADER, flush=True)
    rows = throughput_table(model, lambda b: prompts(b, device=device, length=args.prompt_length), args.gen_lengths,
                            args.batches, progress=lambda r: print(format_row(r), flush=True))
    print("\n".join(ratio_lines(rows)))


if __name__ == "__main__":
    main()
