"""`make bench`: what the decoding loop adds to the model's forward passes.

Runs the plain reference loops (`mdlm_eval.decoding.reference`, written like LLaDA's and Fast-dLLM's
generate.py) and `decode` with `semi_ar` and `threshold` on two models, checks that both give identical tokens,
and prints for each the time spent outside the model's forward passes as a multiple of the time inside them
(timed per call, so a busy machine slows both sides alike): the bench model with LLaDA-8B-Instruct's cost
profile (`throughput.bench_model`), where that multiple is what a LLaDA-8B decode pays, and a head-heavy model
(one attention layer under LLaDA's 126,464-token vocabulary), where the loop's work over the vocabulary is as
large as it gets next to a forward pass.
"""
from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import torch
from torch import nn

from mdlm_eval import decode
from mdlm_eval import throughput
from mdlm_eval.block_bench import block_diffusion_lines
from mdlm_eval.decoding.reference import fast_dllm_generate, llada_generate
from mdlm_eval.throughput import LLADA_VOCAB, bench_ids


class Timed(nn.Module):
    """Wraps a model and adds up the seconds spent in its forward calls."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.config, self.seconds = model, model.config, 0.0

    def forward(self, *args, **kwargs):
        start = time.perf_counter()
        out = self.model(*args, **kwargs)
        if out.logits.is_cuda:
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - start
        return out


class WideVocabModel(nn.Module):
    """Embedding, one bidirectional attention layer, and an LM head over LLaDA's vocabulary."""

    def __init__(self, dim: int, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.config = SimpleNamespace(vocab_size=LLADA_VOCAB)
        self.embed = nn.Embedding(LLADA_VOCAB, dim)
        self.attn = nn.MultiheadAttention(dim, 4, batch_first=True)
        self.head = nn.Linear(dim, LLADA_VOCAB)

    def forward(self, input_ids, attention_mask=None):
        h = self.embed(input_ids)
        pad = None if attention_mask is None else attention_mask == 0
        h = h + self.attn(h, h, h, key_padding_mask=pad, need_weights=False)[0]
        return SimpleNamespace(logits=self.head(h))


def overhead(run, model: Timed, repeats: int) -> tuple[float, float, object]:
    """Best of `repeats`: (total seconds, added seconds / forward seconds, result)."""
    best = None
    for _ in range(repeats):
        model.seconds = 0.0
        start = time.perf_counter()
        result = run()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        total = time.perf_counter() - start
        ratio = (total - model.seconds) / model.seconds
        if best is None or ratio < best[1]:
            best = (total, ratio, result)
    return best


def cases(model: Timed, prompt: torch.Tensor, gen_length: int, block_length: int):
    """(preset, what, reference run, decode run) for `semi_ar` at L/2 steps and `threshold` over two blocks."""
    mask, eos = bench_ids(model.config.vocab_size)
    steps = gen_length // 2
    settings = dict(gen_length=gen_length, steps=steps, block_length=block_length)
    ids = dict(mask_id=mask, eos_token_ids=[eos])
    return [
        ("semi_ar", f"{steps} steps",
         lambda: llada_generate(model, prompt, mask_id=mask, eos_id=eos, **settings),
         lambda: decode(model, prompt, "semi_ar", **ids, **settings)),
        # Two blocks keep the reference's float64 softmax over the whole canvas (Fast-dLLM's) affordable.
        ("threshold", "tau 0.9, L = 2 blocks",
         lambda: fast_dllm_generate(model, prompt, gen_length=2 * block_length, block_length=block_length,
                                    threshold=0.9, mask_id=mask)[0],
         lambda: decode(model, prompt, "threshold", gen_length=2 * block_length, block_length=block_length, **ids)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--prompt-length", type=int, default=32)
    parser.add_argument("--gen-length", type=int, default=128)
    parser.add_argument("--block-length", type=int, default=32)
    parser.add_argument("--dim", type=int, default=64, help="width of the head-heavy model")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    models = [("LLaDA-8B-Instruct's cost profile (throughput.bench_model)", throughput.bench_model()),
              ("head-heavy: one attention layer of width %d" % args.dim, WideVocabModel(args.dim))]
    disagree = []
    for label, module in models:
        model = Timed(module.to(device=device, dtype=dtype).eval())
        vocab = model.config.vocab_size
        prompt = torch.randint(0, min(100_000, vocab - 2), (args.batch, args.prompt_length), device=device)
        print(f"{label}, vocab {vocab:,}: on {device} ({dtype}), batch {args.batch}, prompt {args.prompt_length}, "
              f"L {args.gen_length}, block {args.block_length}")
        print(f"{'':30}{'seconds':>9}{'NFE':>6}{'added / forward':>17}")
        for preset, what, reference, ours in cases(model, prompt, args.gen_length, args.block_length):
            t_ref, r_ref, ref = overhead(reference, model, args.repeats)
            t_ours, r_ours, out = overhead(ours, model, args.repeats)
            print(f"{preset + ' (' + what + ')':30}")
            for name, t, r in (("  reference loop", t_ref, r_ref), ("  mdlm_eval.decode", t_ours, r_ours)):
                print(f"{name:30}{t:9.2f}{out.nfe:6d}{r:16.2f}x")
            if not torch.equal(ref, out.sequences):
                disagree.append(f"{preset} on {label}")
    print(f"identical tokens: {not disagree}")
    if disagree:
        raise SystemExit(f"decode and the reference loop disagree: {', '.join(disagree)}")


if __name__ == "__main__":
    main()
    throughput.main([])  # the block-cache throughput table (mdlm_eval/throughput.py) on LLaDA-8B's cost profile
    throughput.main(["--model", "head-heavy", "--gen-lengths", "256", "--batches", "1"])  # the former bench model
    print("\n" + "\n".join(block_diffusion_lines()))  # the block-diffusion row: the exact block cache
