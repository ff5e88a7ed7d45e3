"""Throughput of the block caches (part of `make bench`): tokens per second, forward passes and tokens per
forward for `semi_ar` at L/2 steps (the d1 protocol) without and with each cache, `threshold` (tau 0.9),
`threshold` + prefix cache and `threshold` + dual cache, at each L and batch size, each speed-up as a ratio to
`semi_ar` L/2 without a cache measured in the same run. `semi_ar` with a cache commits the same two tokens per
forward as without, so its ratio is the cache's saving per forward alone.

Tokens are counted up to each row's first EOS (EOS excluded), as Fast-dLLM counts them (arXiv 2505.22618).
Forward passes are the model calls of the batch; tokens per forward = counted tokens (all rows) / passes.

On a CPU this runs a random model with LLaDA-8B-Instruct's cost profile (`bench_model`: the native LLaDA class,
2 layers of width 128 with a SwiGLU of 17,536 and a 7,936-token vocabulary, so that every pass splits its
multiply-adds between layers, attention and output head as LLaDA-8B's does) on prompts of about 800 tokens, the
length of the 5-shot GSM8K prompts of Fast-dLLM's Table 1 (3,030 characters on average over GSM8K test);
`--model head-heavy` runs the former bench model (LLaDA's vocabulary on 8 narrow layers). Each row also gives the
time its passes would take at this machine's measured multiply-add rate and bandwidth (`mdlm_eval.roofline`) and
the measured time as a multiple of it; at batch 1 the `threshold`+dual row is timed against the re-statement of
Fast-dLLM's own loop on the same prompt (identical tokens), at batch 8 its tokens per second against that loop's
on each of the 8 prompts alone (identical tokens, row by row). `scripts/gpu_check.py` times the same table with
LLaDA-8B-Instruct's weights on a GPU, and `--random-weights` its passes in LLaDA-8B's shapes without a download.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import torch

from mdlm_eval import decode
from mdlm_eval.decoding.reference import fast_dllm_cached_generate
from mdlm_eval.models.llada import LladaConfig, LladaModelLM
from mdlm_eval.roofline import LLADA_8B, Pass, Rates, Shape, measure_rates, pass_cost, recorded_passes

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
    roofline_seconds: float | None = None  # the row's passes at the machine's measured rates (mdlm_eval.roofline)
    sequences: torch.Tensor | None = field(default=None, repr=False)  # the decoded canvases, prompt included

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds

    @property
    def tokens_per_forward(self) -> float:
        return self.tokens / self.forwards

    @property
    def ms_per_forward(self) -> float:
        return 1000 * self.seconds / self.forwards

    @property
    def x_of_roofline(self) -> float | None:
        return None if self.roofline_seconds is None else self.seconds / self.roofline_seconds


def bench_ids(vocab: int) -> tuple[int, int]:
    """(mask id, EOS id): LLaDA's where they fit in `vocab`, else the last two ids."""
    return (MASK, EOS) if vocab == LLADA_VOCAB else (vocab - 1, vocab - 2)


def bench_model(d_model: int = 128, n_layers: int = 2, ff_hidden: int = 17_536, vocab: int = 7936,
                qk_scale: float = 7.0, ff_scale: float = 0.15, head_scale: float = 40.0, bulk_scale: float = 2.0,
                frequent: int = 256, seed: int = 0, frequent_seed: int = 1) -> LladaModelLM:
    """The native LLaDA class, head size 128 (`d_model / 128` heads), `n_layers` layers, SwiGLU width `ff_hidden`,
    `vocab` tokens (mask and EOS ids: `bench_ids`); weights N(0, 0.02), query/key projections times `qk_scale`,
    the feed-forward's output projection times `ff_scale` (at 1 the wide feed-forward drowns the position-dependent
    attention output and every masked position gets the same argmax), and the output head's rows times
    `head_scale` for `frequent` tokens drawn with `frequent_seed` and times
    `bulk_scale` for the rest.

    The defaults give LLaDA-8B-Instruct's cost profile: with 800-token prompts each pass of the loop (uncached,
    prefix, dual) splits its multiply-adds between layers, attention and output head as LLaDA-8B's does within
    half a point (`mdlm_eval.roofline`; the shares depend only on (4 d + 3 ff) / (2 keys) and
    vocab / (layers (4 d + 3 ff)), so a narrow model needs a wide feed-forward and a small vocabulary).
    `head_heavy_model` is the former bench model, LLaDA's vocabulary on 8 layers of width 128.

    At N(0, 0.02) alone every masked position gets the same flat distribution and a threshold commits one token
    per step. The scales make attention depend on position and give logits shaped like a trained model's: a few
    hundred plausible tokens over a flat bulk, spanning well under float32's exp range (past it exp runs 40x
    slower). A larger `qk_scale` makes the model chaotic (a stale cache then halves the tokens committed per
    forward, which trained models do not show); a smaller one makes it repeat a handful of tokens."""
    config = LladaConfig(d_model=d_model, n_heads=d_model // 128, n_layers=n_layers, mlp_hidden_size=ff_hidden,
                         vocab_size=vocab, embedding_size=vocab, mask_token_id=bench_ids(vocab)[0],
                         eos_token_id=bench_ids(vocab)[1], pad_token_id=bench_ids(vocab)[1])
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
            block.ff_out.weight.mul_(ff_scale)
        head.mul_(scale)
    return model


def head_heavy_model() -> LladaModelLM:
    """LLaDA's vocabulary (126,464) and ids on 8 layers of width 128 (SwiGLU 384): the output head is about 70%
    of a dual-cache pass (4% on LLaDA-8B), so the caches save far less per pass than on LLaDA-8B."""
    return bench_model(d_model=128, n_layers=8, ff_hidden=384, vocab=LLADA_VOCAB, ff_scale=1.0)


def prompts(batch: int, seed: int = 0, device: str = "cpu", length: int = 800, spread: int = 32,
            vocab: int = LLADA_VOCAB):
    """`batch` random prompts (ids below the special tokens of `vocab`), left-padded with EOS: one of `length`
    tokens, or several of lengths drawn from length +- spread."""
    mask_id, eos_id = bench_ids(vocab)
    g = torch.Generator().manual_seed(seed)
    sizes = (torch.randint(length - spread, length + spread + 1, (batch,), generator=g).tolist() if batch > 1
             else [length])
    width = max(sizes)
    ids = torch.full((batch, width), eos_id, dtype=torch.long)
    mask = torch.zeros((batch, width), dtype=torch.long)
    for row, n in enumerate(sizes):
        ids[row, width - n:] = torch.randint(0, min(100_000, eos_id, mask_id), (n,), generator=g)
        mask[row, width - n:] = 1
    return ids.to(device), (mask.to(device) if batch > 1 else None)


def tokens_to_eos(generated: torch.Tensor, eos_ids: list[int]) -> int:
    """Generated tokens before each row's first EOS, summed over rows (Fast-dLLM's throughput count)."""
    is_eos = torch.isin(generated, torch.tensor(eos_ids, device=generated.device))
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1), torch.full_like(is_eos[:, 0], generated.shape[1],
                                                                          dtype=torch.long))
    return int(first.sum())


def measure(model, decoder: str, gen_length: int, input_ids, attention_mask, mask_id: int = MASK,
            eos_ids: tuple[int, ...] = (EOS,), rates: Rates | None = None) -> Row:
    """One decode, timed; with `rates`, also the time its passes would take at them (LLaDA-architecture models)."""
    preset, cache, extra = DECODERS[decoder]
    sync = torch.cuda.synchronize if input_ids.is_cuda else (lambda: None)
    sync()
    with recorded_passes(model) as passes:
        start = time.perf_counter()
        out = decode(model, input_ids, preset, gen_length=gen_length, mask_id=mask_id, eos_token_ids=list(eos_ids),
                     attention_mask=attention_mask, cache=cache, **extra)
        sync()
        seconds = time.perf_counter() - start
    tokens = tokens_to_eos(out.sequences[:, input_ids.shape[1]:], list(eos_ids))
    roofline = None
    if rates is not None and hasattr(model.config, "d_model"):
        shape, size = Shape.of(model.config), next(model.parameters()).element_size()
        roofline = sum(rates.seconds(pass_cost(shape, p, size)) for p in passes)
    return Row(decoder, gen_length, input_ids.shape[0], seconds, out.nfe, tokens, roofline, out.sequences)


def fast_dllm_loop(model, prompt, gen_length: int, mask_id: int = MASK) -> tuple[torch.Tensor, float]:
    """(canvas, seconds): one prompt [1, P] decoded by the re-statement of Fast-dLLM's `generate_with_dual_cache`
    (`reference.fast_dllm_cached_generate`: full-canvas logits, softmax over the window, batch 1; blocks of 32,
    tau 0.9), timed."""
    sync = torch.cuda.synchronize if prompt.is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    theirs, _ = fast_dllm_cached_generate(model, prompt, steps=gen_length, gen_length=gen_length, block_length=32,
                                          mask_id=mask_id, threshold=0.9, cache="dual")
    sync()
    return theirs, time.perf_counter() - start


def peer_line(model, ours: Row, input_ids, mask_id: int = MASK) -> str:
    """`ours vs Fast-dLLM loop, threshold+dual, L=256, batch 1: 0.7x time`: the same decode by Fast-dLLM's loop
    (`fast_dllm_loop`), same weights and prompt; raises if the tokens differ."""
    assert ours.decoder == "threshold+dual" and ours.batch == 1
    theirs, seconds = fast_dllm_loop(model, input_ids, ours.gen_length, mask_id)
    if not torch.equal(theirs, ours.sequences):
        raise RuntimeError("decode and the Fast-dLLM loop gave different tokens")
    return (f"ours vs Fast-dLLM loop, threshold+dual, L={ours.gen_length}, batch 1: {ours.seconds / seconds:.1f}x "
            f"time ({ours.seconds:.2f} s against {seconds:.2f} s)")


def batch_peer_line(model, ours: Row, input_ids, attention_mask, mask_id: int = MASK,
                    eos_ids: tuple[int, ...] = (EOS,)) -> str:
    """`ours vs Fast-dLLM loop, threshold+dual, L=256, batch 8: 2.9x tokens/s`: our batched decode (left-padded
    prompts, exact per row) against Fast-dLLM's loop (`fast_dllm_loop`, batch 1 only) run on each prompt alone,
    tokens/s = tokens before each row's first EOS, summed over the rows / seconds (ours over the loop's); raises
    if any row's tokens differ."""
    assert ours.decoder == "threshold+dual"
    seconds, generated = 0.0, []
    for row in range(ours.batch):
        kept = slice(None) if attention_mask is None else attention_mask[row].bool()
        prompt = input_ids[row:row + 1, kept]
        theirs, took = fast_dllm_loop(model, prompt, ours.gen_length, mask_id)
        if not torch.equal(theirs[0, prompt.shape[1]:], ours.sequences[row, input_ids.shape[1]:]):
            raise RuntimeError(f"decode and the Fast-dLLM loop gave different tokens in row {row}")
        seconds += took
        generated.append(theirs[:, prompt.shape[1]:])
    theirs_rate = tokens_to_eos(torch.cat(generated), list(eos_ids)) / seconds
    return (f"ours vs Fast-dLLM loop, threshold+dual, L={ours.gen_length}, batch {ours.batch}: "
            f"{ours.tokens_per_second / theirs_rate:.1f}x tokens/s ({ours.tokens_per_second:.1f} against "
            f"{theirs_rate:.1f} tokens/s)")


def throughput_table(model, make_prompts, gen_lengths=(256, 512), batches=(1, 8), mask_id: int = MASK,
                     eos_ids: tuple[int, ...] = (EOS,), progress=None, rates: Rates | None = None) -> list[Row]:
    """Every decoder at every L and batch size; `progress(row)` is called as each row is measured."""
    rows = []
    for gen_length in gen_lengths:
        for batch in batches:
            ids, mask = make_prompts(batch)
            for decoder in DECODERS:
                rows.append(measure(model, decoder, gen_length, ids, mask, mask_id, eos_ids, rates))
                if progress is not None:
                    progress(rows[-1])
    return rows


# LLaDA-8B-Instruct's tokens per forward under tau 0.9 on 5-shot GSM8K: Fast-dLLM (arXiv 2505.22618) Table 1,
# parallel decoding's throughput over one token per step (16.5 / 6.7 at L = 256, 18.4 / 3.2 at L = 512).
PUBLISHED_TPF = {256: 2.5, 512: 5.8}


def ratio_lines(rows: list[Row]) -> list[str]:
    """`threshold+prefix vs semi_ar L/2 at L=256: 4.2x tokens/s` for every decoder, L and batch; for `threshold`
    rows also the ratio at LLaDA-8B's published tokens per forward (`PUBLISHED_TPF`: the row's ms per forward,
    LLaDA-8B's tokens per forward), and per L and batch what a cached pass costs against an uncached one."""
    base = {(r.gen_length, r.batch): r for r in rows if r.decoder == BASELINE}
    batches = {r.batch for r in rows}
    lines = []
    for r in rows:
        b = base[(r.gen_length, r.batch)]
        where = f"L={r.gen_length}" + (f", batch {r.batch}" if len(batches) > 1 else "")
        if r.decoder == BASELINE:
            per_forward = {x.decoder: x.ms_per_forward / r.ms_per_forward for x in rows
                           if (x.gen_length, x.batch) == (r.gen_length, r.batch) and "+" in x.decoder
                           and x.decoder.startswith(BASELINE)}
            if per_forward:
                lines.append(f"per forward at {where}: " + ", ".join(
                    f"{name.split('+')[1]} cache {ratio:.2f}x" for name, ratio in per_forward.items())
                    + " of an uncached pass")
            continue
        ratio = r.tokens_per_second / b.tokens_per_second
        line = (f"{r.decoder} vs {BASELINE} at {where}: {ratio:.1f}x tokens/s measured "
                f"({r.tokens_per_forward:.2f} tok/fwd)")
        published = PUBLISHED_TPF.get(r.gen_length)
        if r.decoder.startswith("threshold") and published is not None:
            at_published = (published * r.batch / r.ms_per_forward) / (b.tokens_per_forward / b.ms_per_forward)
            line += f", {at_published:.1f}x at LLaDA-8B's published {published} tok/fwd"
        lines.append(line)
    return lines


def cost_share_lines(shape: Shape, prompt_length: int, gen_length: int, block: int = 32) -> list[str]:
    """The shares of multiply-adds (layers / attention / head) of the first block's uncached, prefix and dual
    passes, for `shape` and for LLaDA-8B-Instruct."""
    total = prompt_length + gen_length
    passes = {"uncached": Pass(1, total, total, block), "prefix": Pass(1, gen_length, total, block),
              "dual": Pass(1, block, total, block)}
    lines = []
    for name, s in (("this model", shape), ("LLaDA-8B", LLADA_8B)):
        parts = []
        for kind, p in passes.items():
            share = pass_cost(s, p).shares()
            parts.append(f"{kind} {share['layers']:.1%}/{share['attention']:.1%}/{share['head']:.1%}")
        lines.append(f"  {name:11} " + ", ".join(parts))
    return [f"multiply-adds layers/attention/head at a {prompt_length}-token prompt, L={gen_length}, first block:",
            *lines]


HEADER = (f"{'decoder':19}{'L':>4}{'batch':>6}{'seconds':>8}{'fwd':>5}{'ms/fwd':>8}{'tokens':>7}{'tok/fwd':>8}"
          f"{'tok/s':>7}{'roof ms':>8}{'x roof':>7}")


def format_row(r: Row) -> str:
    roof = "       -      -" if r.roofline_seconds is None else (
        f"{1000 * r.roofline_seconds / r.forwards:8.1f}{r.x_of_roofline:7.1f}")
    return (f"{r.decoder:19}{r.gen_length:4d}{r.batch:6d}{r.seconds:8.2f}{r.forwards:5d}{r.ms_per_forward:8.1f}"
            f"{r.tokens:7d}{r.tokens_per_forward:8.2f}{r.tokens_per_second:7.1f}{roof}")


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


MODELS = {"llada8b-profile": bench_model, "head-heavy": head_heavy_model}


def main(argv=None) -> None:
    """The `make bench` section: the table on a CPU-sized model (or on CUDA when present), with the roofline."""
    parser = argparse.ArgumentParser(description="block-cache throughput")
    parser.add_argument("--gen-lengths", type=positive_ints, default=[256, 512], help="multiples of 32")
    parser.add_argument("--batches", type=positive_ints, default=[1, 8])
    parser.add_argument("--model", choices=list(MODELS), default="llada8b-profile",
                        help="llada8b-profile: LLaDA-8B's cost shares; head-heavy: LLaDA's vocabulary, 8 narrow layers")
    parser.add_argument("--prompt-length", type=int, default=800, help="at least 64 (batches draw +-32)")
    args = parser.parse_args(argv)
    if args.prompt_length < 64 or any(n % 32 for n in args.gen_lengths):
        parser.error("--prompt-length must be >= 64 and every --gen-lengths value a multiple of 32 (the block "
                     "length)")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = MODELS[args.model]().to(device)
    cfg, shape = model.config, Shape.of(model.config)
    rates = measure_rates(device, next(model.parameters()).dtype)
    print(f"\nblock caches: {args.model} random model ({cfg.n_layers} layers, d_model {cfg.d_model}, SwiGLU "
          f"{cfg.ff_hidden}, head size 128, vocab {shape.vocab:,}) on {device} with {torch.get_num_threads()} "
          f"threads, measured {rates.describe()}; prompts of {args.prompt_length} tokens (batches: +-32, "
          f"left-padded); blocks of 32, tau 0.9; tokens counted up to the first EOS (Fast-dLLM's count); roof ms: "
          f"a forward at the measured rates, x roof: measured / that")
    print("\n".join(cost_share_lines(shape, args.prompt_length, min(args.gen_lengths))))
    print(HEADER, flush=True)
    mask_id, eos_id = bench_ids(shape.vocab)
    rows = throughput_table(model, lambda b: prompts(b, device=device, length=args.prompt_length, vocab=shape.vocab),
                            args.gen_lengths, args.batches, mask_id, (eos_id,),
                            progress=lambda r: print(format_row(r), flush=True), rates=rates)
    print("\n".join(ratio_lines(rows)))
    for r in rows:
        if r.decoder == "threshold+dual" and r.batch in (1, 8):
            ids, mask = prompts(r.batch, device=device, length=args.prompt_length, vocab=shape.vocab)
            line = (peer_line(model, r, ids, mask_id) if r.batch == 1
                    else batch_peer_line(model, r, ids, mask, mask_id, (eos_id,)))
            print(line, flush=True)


if __name__ == "__main__":
    main()
