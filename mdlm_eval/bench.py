"""`make bench`: what the decoding loop adds to the model's forward passes.

Runs, on a small model with LLaDA's 126,464-token vocabulary, the plain reference loops
(`mdlm_eval.decoding.reference`, written like LLaDA's and Fast-dLLM's generate.py) and `decode` with
`semi_ar` and `threshold`, checks that both give identical tokens, and prints for each the time spent outside
the model's forward passes as a multiple of the time inside them (timed per call, so a busy machine slows
both sides alike).
"""
from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import torch
from torch import nn

from mdlm_eval import decode
from mdlm_eval import throughput
from mdlm_eval.decoding.reference import fast_dllm_generate, llada_generate

LLADA_VOCAB, MASK, EOS = 126_464, 126_336, 126_081


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--prompt-length", type=int, default=32)
    parser.add_argument("--gen-length", type=int, default=128)
    parser.add_argument("--block-length", type=int, default=32)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = Timed(WideVocabModel(args.dim).to(device=device, dtype=dtype).eval())
    prompt = torch.randint(0, 100_000, (args.batch, args.prompt_length), device=device)
    steps = args.gen_length // 2
    settings = dict(gen_length=args.gen_length, steps=steps, block_length=args.block_length)

    ids = dict(mask_id=MASK, eos_token_ids=[EOS])
    cases = [
        ("semi_ar", f"{steps} steps",
         lambda: llada_generate(model, prompt, mask_id=MASK, eos_id=EOS, **settings),
         lambda: decode(model, prompt, "semi_ar", **ids, **settings)),
        # The bench model's near-uniform probabilities commit one token per pass; two blocks keep the reference's
        # float64 softmax over the whole canvas (Fast-dLLM's) affordable.
        ("threshold", "tau 0.9, L = 2 blocks",
         lambda: fast_dllm_generate(model, prompt, gen_length=2 * args.block_length, block_length=args.block_length,
                                    threshold=0.9, mask_id=MASK)[0],
         lambda: decode(model, prompt, "threshold", gen_length=2 * args.block_length, block_length=args.block_length,
                        **ids)),
    ]
    print(f"on {device} ({dtype}), batch {args.batch}, prompt {args.prompt_length}, L {args.gen_length}, "
          f"block {args.block_length}, vocab {LLADA_VOCAB:,}")
    print(f"{'':30}{'seconds':>9}{'NFE':>6}{'added / forward':>17}")
    disagree = []
    for preset, what, reference, ours in cases:
        t_ref, r_ref, ref = overhead(reference, model, args.repeats)
        t_ours, r_ours, out = overhead(ours, model, args.repeats)
        print(f"{preset + ' (' + what + ')':30}")
        for name, t, r in (("  reference loop", t_ref, r_ref), ("  mdlm_eval.decode", t_ours, r_ours)):
            print(f"{name:30}{t:9.2f}{out.nfe:6d}{r:16.2f}x")
        if not torch.equal(ref, out.sequences):
            disagree.append(preset)
    print(f"identical tokens: {not disagree}")
    if disagree:
        raise SystemExit(f"decode and the reference loop disagree: {', '.join(disagree)}")


if __name__ == "__main__":
    main()
    throughput.main([])  # the block-cache throughput table (mdlm_eval/throughput.py) on LLaDA-8B's cost profile
    throughput.main(["--model", "head-heavy", "--gen-lengths", "256", "--batches", "1"])  # the former bench model
