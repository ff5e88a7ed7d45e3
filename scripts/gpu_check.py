"""GPU check of the native models (LLaDA, Dream, LLaDA2, SDAR, Fast-dLLM v2) and the block caches (`make gpu-check`; not part of `make test`).

On a CUDA machine with LLaDA-8B-Instruct or Dream-v0-Instruct-7B (`--model`, hub id or local folder):
1. logits: the native model and the checkpoint's own code (`native=false`), both in bfloat16, on a few
   chat-formatted GSM8K-style prompts with a masked answer canvas. LLaDA's own code ignores the attention
   mask, so each prompt is fed alone, unpadded. Dream's own code needs transformers 4.46-4.57: on another
   version this step fails with the one line `load_model` gives. Passes when, at every position, the largest absolute
   difference is at most TOLERANCE_FACTOR x the native model's own bfloat16 rounding (its largest difference
   from the native model in float32 on the same inputs) and the argmax agrees at >= MIN_ARGMAX_AGREEMENT of
   the positions;
2. speed: the `make bench` throughput table (mdlm_eval/throughput.py) with the real weights, batch 1 and 8,
   L = 256 and 512 (`--batches`, `--gen-lengths`), tokens counted up to the first EOS, on chat-formatted
   5-shot GSM8K prompts as in Fast-dLLM's Table 1 (lm-eval's `Question: ... Answer: ...` format; the first
   five GSM8K test items are the shots, the next ones the questions; the data come from mdlm_eval.data, so
   MDLM_EVAL_DATA_DIR works offline).

A block-diffusion checkpoint (LLaDA2.x, SDAR/TraDo, Fast-dLLM v2) takes step 1 through the `native=false`
wrapper, then its family's preset (`family_preset`) decodes the prompts batched and alone (`check_decode`), and
step 2 is the `make bench` block-diffusion row (exact block cache against the uncached loop) with the real weights.

    python scripts/gpu_check.py [--model GSAI-ML/LLaDA-8B-Instruct | Dream-org/Dream-v0-Instruct-7B]
                                [--skip-speed | --skip-logits]
                                [--gen-lengths 256,512] [--batches 1,8]

With `--random-weights` nothing is downloaded: LLaDA-8B-Instruct's exact shapes (`LladaConfig()`) with random
weights, built on the GPU in bfloat16, and per L (256, 512) and batch (1, 8, 32) on 800-token prompts: ms per
forward of the loop's three passes at the first block (uncached; prefix: the block and all after it; dual: the
block alone), each against the roofline at the GPU's measured bandwidth and bfloat16 rate (mdlm_eval/roofline.py),
peak memory, and the tokens/s those times give at LLaDA-8B's published tokens per forward (mdlm_eval.throughput
PUBLISHED_TPF; `semi_ar` L/2: 2). Then the training memory line: the peak GPU memory of one CJ-GRPO training step
(`train_step_report`) at LLaDA-8B-Instruct's shapes, random weights in bfloat16, L = 256, S = 8 decoding steps per
sample, the paper's per-device micro-batch (6 samples: 1 prompt x 6 generations, 200-token prompts), LoRA r 128 on
the reference's target list, activation checkpointing on: the EOSER+ASS rollout, the old and reference log-probs,
the loss back-propagated step by step, and the AdamW step, beside the dry run's arithmetic (weights, LoRA with its
gradients and AdamW moments, activations counted on the meta device as `mdlm-eval train --dry-run` counts them).
`--skip-train-memory` leaves it out; `--train-memory-only` runs only it.
"""
from __future__ import annotations

import argparse
import gc
import sys

import torch

from mdlm_eval.throughput import positive_ints

TOLERANCE_FACTOR = 2.0
MIN_ARGMAX_AGREEMENT = 0.99
QUESTIONS = [
    "Lily can run 12 kilometers per hour for 4 hours. After that, she runs 6 kilometers per hour. "
    "How many kilometers can she run in 8 hours?",
    "A baker makes 48 muffins and sells them in boxes of 6. Each box costs $5. How much money does she make?",
    "Tom has 3 times as many marbles as Ann. Together they have 64 marbles. How many marbles does Tom have?",
    "A train travels 180 miles in 3 hours. At the same speed, how far does it travel in 5 hours?",
    "Sara buys 4 notebooks at $2.50 each and a pen for $1.20. She pays with a $20 bill. What is her change?",
    "A garden has 7 rows of 9 tomato plants. 15 plants die. How many plants are left?",
    "John reads 25 pages a day. How many days does he need to read a 350-page book?",
    "A class of 30 students is 40% girls. How many boys are in the class?",
]


def chat_ids(tokenizer, messages: list[str]) -> list[list[int]]:
    """Each message as the user turn of the chat template, tokenized."""
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": m}], add_generation_prompt=True,
                                           tokenize=False) for m in messages]
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def chat_prompts(tokenizer, n: int) -> list[list[int]]:
    return chat_ids(tokenizer, (QUESTIONS * (n // len(QUESTIONS) + 1))[:n])


def fewshot_prompts(tokenizer, n: int, shots: int = 5) -> list[list[int]]:
    """`n` chat-formatted GSM8K prompts, each with the first `shots` test items as worked examples."""
    from mdlm_eval.data import load_gsm8k

    docs = load_gsm8k()
    examples = "".join(f"Question: {d['question']}\nAnswer: {d['solution']}\n\n" for d in docs.select(range(shots)))
    questions = docs.select(range(shots, shots + n))
    return chat_ids(tokenizer, [examples + f"Question: {d['question']}\nAnswer:" for d in questions])


def canvases(prompts: list[list[int]], mask_id: int, gen_length: int, device,
             vocab: int = 100_000) -> list[torch.Tensor]:
    """Each prompt followed by a canvas masked except for every fourth position (random ids below `vocab`): a
    mid-decode state."""
    out = []
    g = torch.Generator().manual_seed(0)
    for ids in prompts:
        canvas = torch.full((gen_length,), mask_id, dtype=torch.long)
        filled = torch.arange(gen_length) % 4 == 0
        canvas[filled] = torch.randint(0, vocab, (int(filled.sum()),), generator=g)
        out.append(torch.cat([torch.tensor(ids), canvas])[None].to(device))
    return out


@torch.no_grad()
def logits_of(model, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    return [model(x).logits.float().cpu() for x in inputs]


def agreement(a: list[torch.Tensor], b: list[torch.Tensor]) -> tuple[float, float]:
    """(largest absolute difference, share of positions with the same argmax)."""
    diff = max(float((x - y).abs().max()) for x, y in zip(a, b))
    same = sum(int((x.argmax(-1) == y.argmax(-1)).sum()) for x, y in zip(a, b))
    return diff, same / sum(x.shape[1] for x in a)


def judge(native_bf16, own_bf16, native_fp32) -> tuple[bool, str]:
    """The pass rule of step 1, with the numbers it used."""
    floor, _ = agreement(native_bf16, native_fp32)
    diff, share = agreement(native_bf16, own_bf16)
    ok = diff <= TOLERANCE_FACTOR * floor and share >= MIN_ARGMAX_AGREEMENT
    return ok, (f"native vs own code (bfloat16): max |diff| {diff:.4f} (limit {TOLERANCE_FACTOR:g} x the bfloat16 "
                f"rounding {floor:.4f}), argmax agreement {share:.2%} (>= {MIN_ARGMAX_AGREEMENT:.0%})")


def free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def check_logits(model_id: str, n_prompts: int, gen_length: int, device: str = "cuda") -> bool:
    from mdlm_eval.errors import UsageError
    from mdlm_eval.models import load_model

    lm = load_model(model_id, dtype="bfloat16", device=device)
    vocab = min(100_000, lm.model.config.vocab_size)
    inputs = canvases(chat_prompts(lm.tokenizer, n_prompts), lm.ids.mask_id, gen_length, lm.device, vocab)
    native = logits_of(lm.model, inputs)
    del lm
    free()
    lm = load_model(model_id, dtype="float32", device=device)
    native_fp32 = logits_of(lm.model, inputs)
    del lm
    free()
    try:
        lm = load_model(model_id, dtype="bfloat16", device=device, native=False)
    except UsageError as e:  # Dream's own code on a transformers it cannot run on
        print(f"FAIL the checkpoint's own code does not load: {e}")
        return False
    own = logits_of(lm.model, inputs)
    del lm
    free()
    ok, line = judge(native, own, native_fp32)
    print(("PASS " if ok else "FAIL ") + line)
    return ok


def left_padded(rows: list[list[int]], pad: int, device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Token rows as one left-padded batch: (ids, attention mask; None for one row)."""
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):], mask[i, width - len(r):] = torch.tensor(r), 1
    return ids.to(device), mask.to(device) if len(rows) > 1 else None


def family_preset(lm) -> str:
    """The decoder a block-diffusion checkpoint is published with: LLaDA2.1's quality mode on a model that edits,
    SDAR's loop on SDAR/TraDo, LLaDA2's `generate` otherwise (LLaDA2.0, Fast-dLLM v2)."""
    if getattr(lm.model, "token_editing", False):
        return "llada21_quality"
    return "sdar" if lm.family.name == "sdar" else "llada2"


def check_decode(model_id: str, n_prompts: int, gen_length: int, device: str = "cuda") -> list[str]:
    """A block-diffusion checkpoint under its family's preset, in bfloat16: chat prompts decoded as one left-padded
    batch and each alone (the rows that match, NFE per row), and the first answer."""
    from mdlm_eval import decode
    from mdlm_eval.models import load_model

    lm = load_model(model_id, dtype="bfloat16", device=device)
    preset, rows = family_preset(lm), chat_prompts(lm.tokenizer, n_prompts)
    settings = dict(gen_length=gen_length, mask_id=lm.ids.mask_id, eos_token_ids=lm.ids.stop_ids())
    ids, mask = left_padded(rows, lm.ids.eos_id, lm.device)
    batch = decode(lm.model, ids, preset, attention_mask=mask, **settings)
    same = 0
    for i, row in enumerate(rows):
        alone = decode(lm.model, left_padded([row], lm.ids.eos_id, lm.device)[0], preset, **settings)
        same += torch.equal(batch.sequences[i, ids.shape[1]:], alone.sequences[0, len(row):]) \
            and batch.nfe_per_row[i] == alone.nfe
    answer = lm.tokenizer.decode(batch.sequences[0, ids.shape[1]:], skip_special_tokens=True).strip()
    return [f"{lm.architecture}: {preset} at L={gen_length}, bfloat16: {same} of {len(rows)} rows of a left-padded "
            f"batch decode as alone (tokens and NFE); NFE per row {batch.nfe_per_row}",
            f"  first answer: {answer[:200]!r}"]


def time_table(model_id: str, gen_lengths=(256, 512), batches=(1, 8), device: str = "cuda") -> None:
    from mdlm_eval.block_bench import block_diffusion_lines
    from mdlm_eval.models import load_model
    from mdlm_eval.throughput import format_table, ratio_lines, throughput_table

    lm = load_model(model_id, dtype="bfloat16", device=device)
    prompts = fewshot_prompts(lm.tokenizer, max(batches))
    if getattr(lm.model, "block_causal", False):  # the exact block cache against the uncached loop, per L
        ids = left_padded(prompts[:1], lm.ids.eos_id, lm.device)[0]
        for gen_length in gen_lengths:
            print("\n".join(block_diffusion_lines(gen_length, model=lm.model, ids=ids, decoder=family_preset(lm),
                                                  mask_id=lm.ids.mask_id, eos_id=lm.ids.eos_id,
                                                  label=f"{model_id} ({lm.architecture}), {family_preset(lm)}, "
                                                        f"a 5-shot GSM8K prompt of {ids.shape[1]} tokens")))
        return

    def make_prompts(batch: int):
        return left_padded(prompts[:batch], lm.ids.eos_id, lm.device)

    rows = throughput_table(lm.model, make_prompts, gen_lengths, batches, mask_id=lm.ids.mask_id,
                            eos_ids=tuple(lm.ids.stop_ids()))
    print(f"{model_id} on {torch.cuda.get_device_name()}, bfloat16; 5-shot GSM8K prompts of "
          f"{min(map(len, prompts))}-{max(map(len, prompts))} tokens; tokens counted up to the first EOS")
    print(format_table(rows))
    print("\n".join(ratio_lines(rows)))


def random_model(config, device, dtype=torch.bfloat16):
    """The native LLaDA model of `config` with its random initialisation, built directly on `device` in `dtype`."""
    from mdlm_eval.models.llada import LladaModelLM

    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            return LladaModelLM(config).eval()
    finally:
        torch.set_default_dtype(default)


def first_block_passes(batch: int, prompt_len: int, gen_length: int, block: int = 32):
    """The loop's three passes at the first block, as `roofline.Pass`es: uncached, prefix, dual."""
    from mdlm_eval.roofline import Pass

    total = prompt_len + gen_length
    return {"uncached": Pass(batch, total, total, block), "prefix": Pass(batch, gen_length, total, block),
            "dual": Pass(batch, block, total, block)}


@torch.no_grad()
def pass_seconds(model, batch: int, prompt_len: int, gen_length: int, block: int = 32, repeats: int = 3):
    """Seconds of each first-block pass (best of `repeats` after one warm-up) on random prompts and a masked canvas."""
    from mdlm_eval.roofline import best_seconds

    device = next(model.parameters()).device
    mask_id = model.config.mask_token_id
    prompt = torch.randint(0, min(100_000, mask_id), (batch, prompt_len), device=device)
    x = torch.cat([prompt, torch.full((batch, gen_length), mask_id, device=device)], dim=1)
    span = (prompt_len, prompt_len + block)
    cache = model(x, use_cache=True, logits_range=span).past_key_values
    calls = {"uncached": lambda: model(x, logits_range=span),
             "prefix": lambda: model(x[:, prompt_len:], past_key_values=cache, window_start=prompt_len,
                                     logits_range=span),
             "dual": lambda: model(x[:, span[0]:span[1]], past_key_values=cache, window_start=prompt_len,
                                   logits_range=span)}
    return {kind: best_seconds(call, repeats, device) for kind, call in calls.items()}


def tokens_per_second(seconds: dict, batch: int, gen_length: int, tpf: float, block: int = 32) -> dict:
    """Tokens/s of each decode at `tpf` tokens per forward per row, from the pass times: uncached, every pass is
    full; cached, one full pass per block and the rest cached (prefix timed at the first block, its widest
    window, so its figure is a lower bound)."""
    blocks, passes = gen_length // block, gen_length / tpf
    times = {"uncached": passes * seconds["uncached"]}
    for kind in ("prefix", "dual"):
        times[kind] = blocks * seconds["uncached"] + (passes - blocks) * seconds[kind]
    return {kind: batch * gen_length / t for kind, t in times.items()}


def random_weights_report(config, device, gen_lengths=(256, 512), batches=(1, 8, 32), prompt_len: int = 800,
                          dtype=torch.bfloat16, rates=None, repeats: int = 3):
    """The `--random-weights` lines, yielded as measured: per L and batch, each pass's ms, roofline ms and
    multiple; peak memory; the tokens/s at LLaDA-8B's published tokens per forward."""
    from mdlm_eval.roofline import Shape, measure_rates, pass_cost
    from mdlm_eval.throughput import PUBLISHED_TPF

    model = random_model(config, device, dtype)
    shape, size = Shape.of(config), torch.finfo(dtype).bits // 8
    rates = rates or measure_rates(device, dtype)
    gpu = torch.device(device).type == "cuda"
    yield from [f"random weights, {config.n_layers} layers, d_model {config.d_model}, vocab {shape.vocab:,}, {dtype}, "
                f"{prompt_len}-token prompts, first block; measured {rates.describe()}",
                f"{'L':>4}{'batch':>6}  {'pass':9}{'ms':>9}{'roof ms':>9}{'x roof':>7}{'peak GiB':>10}"]
    for gen_length in gen_lengths:
        tpf = PUBLISHED_TPF.get(gen_length, 2.0)
        for batch in batches:
            if gpu:
                torch.cuda.reset_peak_memory_stats()
            seconds = pass_seconds(model, batch, prompt_len, gen_length, repeats=repeats)
            peak = torch.cuda.max_memory_allocated() / 2**30 if gpu else float("nan")
            for kind, p in first_block_passes(batch, prompt_len, gen_length).items():
                roof = rates.seconds(pass_cost(shape, p, size))
                yield (f"{gen_length:4d}{batch:6d}  {kind:9}{1000 * seconds[kind]:9.2f}{1000 * roof:9.2f}"
                       f"{seconds[kind] / roof:7.1f}{peak:10.1f}")
            rate = tokens_per_second(seconds, batch, gen_length, tpf)
            baseline = tokens_per_second(seconds, batch, gen_length, 2.0)["uncached"]
            yield (f"{'':12}tokens/s at {tpf} tok/fwd (LLaDA-8B, tau 0.9): uncached {rate['uncached']:.0f}, "
                   f"prefix {rate['prefix']:.0f}, dual {rate['dual']:.0f}; semi_ar L/2 uncached {baseline:.0f}")


TRAIN_PROMPT_TOKENS = 200  # d1's and EOSER-ASS-RL's max_prompt_length


def lora_parameters(model) -> int:
    """Trainable (LoRA) parameters of a peft-wrapped model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def train_step_plan(weights: int, lora: int, activations: int) -> dict[str, int]:
    """The dry run's memory arithmetic (mdlm_eval/training/plan.py): bytes of the base weights, of the LoRA weights
    with gradients and two AdamW moments (float32: 16 bytes a parameter), of the activations; and their sum."""
    return {"weights": weights, "lora": 16 * lora, "activations": activations,
            "total": weights + 16 * lora + activations}


def train_step_report(config, device, gen_length: int = 256, steps: int = 8, batch: int = 6, generations: int = 6,
                      prompt_len: int = TRAIN_PROMPT_TOKENS, dtype=torch.bfloat16, lora_r: int = 128,
                      lora_alpha: int = 64, seed: int = 0):
    """One CJ-GRPO step with activation checkpointing (module docstring): (its lines, the dry run's arithmetic in
    bytes, the peak GPU bytes or None without CUDA)."""
    from peft import LoraConfig, get_peft_model

    from mdlm_eval.training.cj_grpo import cj_grpo_loss, committed_logps
    from mdlm_eval.training.config import LLADA_TARGETS
    from mdlm_eval.training.objectives import group_advantages
    from mdlm_eval.training.plan import forward_bytes
    from mdlm_eval.training.rollout import Rollout, sample
    from mdlm_eval.training.trainer import enable_checkpointing

    gpu = torch.device(device).type == "cuda"
    torch.manual_seed(seed)
    base = random_model(config, device, dtype)
    enable_checkpointing(base, "random LLaDA")
    weights = sum(p.numel() * p.element_size() for p in base.parameters())
    model = get_peft_model(base, LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=0.05,
                                            target_modules=LLADA_TARGETS))
    lora = lora_parameters(model)
    targets = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if hasattr(m, "lora_A")})
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-6, betas=(0.9, 0.99),
                            weight_decay=0.1)
    mask_id = config.mask_token_id
    g = torch.Generator().manual_seed(seed)
    prompt = torch.randint(0, min(100_000, mask_id), (batch // generations, prompt_len), generator=g)
    prompt_ids = prompt.repeat_interleave(generations, dim=0).to(device)
    prompt_mask = torch.ones_like(prompt_ids)
    if gpu:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    model.eval()
    with torch.no_grad():
        completion, commit_step, S = sample(model, prompt_ids, prompt_mask, "eoser_ass", gen_length=gen_length,
                                            steps=steps, mask_id=mask_id, eos_token_ids=[config.eos_token_id],
                                            seeds=list(range(batch)), noise_dtype=dtype, temperature=1.0)
        rewards = torch.rand(batch, generator=g).to(device)
        r = Rollout(prompt_ids, prompt_mask, completion, commit_step, S, rewards, group_advantages(rewards, generations))
        r.old_logps = committed_logps(model, r, mask_id)
        with model.disable_adapter():
            r.ref_logps = committed_logps(model, r, mask_id)
    model.train()
    cj_grpo_loss(model, r, mask_id, epsilon=0.5, beta=0.04)
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 0.2)
    opt.step()
    opt.zero_grad(set_to_none=True)
    peak = torch.cuda.max_memory_allocated() if gpu else None
    meta_base = random_model(config, "meta", dtype)  # shapes only: the dry run's activation count
    enable_checkpointing(meta_base, "random LLaDA")
    meta = get_peft_model(meta_base, LoraConfig(r=lora_r, lora_alpha=lora_alpha, target_modules=LLADA_TARGETS))
    planned = train_step_plan(weights, lora, forward_bytes(meta, batch, prompt_len, gen_length, True))
    gib = 2**30
    lines = [
        f"one CJ-GRPO training step: {config.n_layers} layers, d_model {config.d_model}, {dtype}, random weights; "
        f"L {gen_length}, S {S} steps per sample, micro-batch {batch} ({batch // generations} prompt x {generations} "
        f"generations, {prompt_len}-token prompts), LoRA r {lora_r} on {', '.join(targets)} ({lora / 1e6:.1f}M), "
        f"activation checkpointing on",
        f"  peak GPU memory {peak / gib:.2f} GiB" if peak is not None else "  peak GPU memory: n/a (no CUDA device)",
        f"  dry-run arithmetic {planned['total'] / gib:.2f} GiB = weights {planned['weights'] / gib:.2f} + LoRA with "
        f"gradients and AdamW {planned['lora'] / gib:.2f} + activations of one step's forward "
        f"{planned['activations'] / gib:.2f} (rollout decoding and the recomputed block not counted)",
    ]
    return lines, planned, peak


def is_block_causal(model_id: str) -> bool:
    """A block-diffusion checkpoint (LLaDA2.x, SDAR/TraDo, Fast-dLLM v2), from its config.json."""
    from mdlm_eval.models.loading import native_kind, resolve_pretrained

    return native_kind(*resolve_pretrained(model_id)) in ("llada2_moe", "llada21_moe", "sdar", "fast_dllm_qwen")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="GSAI-ML/LLaDA-8B-Instruct")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--gen-length", type=int, default=128)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-logits", action="store_true")
    parser.add_argument("--gen-lengths", type=positive_ints, default=[256, 512], help="of the speed table")
    parser.add_argument("--batches", type=positive_ints, default=None, help="of the speed table (1,8; "
                        "--random-weights: 1,8,32)")
    parser.add_argument("--random-weights", action="store_true",
                        help="no download: time LLaDA-8B's shapes with random weights against the roofline")
    parser.add_argument("--skip-train-memory", action="store_true", help="--random-weights without the training line")
    parser.add_argument("--train-memory-only", action="store_true",
                        help="only the training memory line (random weights at LLaDA-8B's shapes)")
    args = parser.parse_args(argv)
    if args.skip_train_memory and args.train_memory_only:
        parser.error("--skip-train-memory and --train-memory-only exclude each other")
    if not torch.cuda.is_available():
        print("gpu_check needs a CUDA GPU (this machine has none)", file=sys.stderr)
        return 2
    if args.random_weights or args.train_memory_only:
        from mdlm_eval.models.llada import LladaConfig

        print(f"LLaDA-8B-Instruct shapes on {torch.cuda.get_device_name()}")
        if not args.train_memory_only:
            for line in random_weights_report(LladaConfig(), "cuda", args.gen_lengths, args.batches or [1, 8, 32]):
                print(line, flush=True)
            free()
        if not args.skip_train_memory:
            for line in train_step_report(LladaConfig(), "cuda")[0]:
                print(line, flush=True)
        return 0
    args.batches = args.batches or [1, 8]
    ok = args.skip_logits or check_logits(args.model, args.prompts, args.gen_length)
    if is_block_causal(args.model):
        print("\n".join(check_decode(args.model, args.prompts, args.gen_length)), flush=True)
    if not args.skip_speed:
        time_table(args.model, args.gen_lengths, args.batches)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
