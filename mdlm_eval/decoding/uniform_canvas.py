"""Decoding a model without a mask token: DiffusionGemma's uniform-noise canvases (commit `renoise`).

DiffusionGemma (transformers `models/diffusion_gemma`, `DiffusionGemmaGenerationMixin.generate`) is an
encoder-decoder block-diffusion model. The generation runs in canvases of `config.canvas_length` (C) tokens,
ceil(L / C) of them for L tokens:
  1. an encoder pass writes the keys and values of the new context into the cache (the prompt before the first
     canvas, the previous canvas before each later one): one encoder pass per canvas;
  2. the canvas starts as C tokens drawn uniformly from the vocabulary (there is no mask token); then, for
     n = N, N-1, ..., 1 (N = `steps`, transformers' `max_denoising_steps`; n counts the passes left):
     - a decoder pass reads the cache and the canvas, conditioned on the previous pass's tempered logits
       (self-conditioning; none at the first pass), and gives logits l;
     - tempered logits l / t with t = t_min + (t_max - t_min) * n / N (`LinearTemperatureScheduleLogitsProcessor`);
     - a token is drawn at every position from softmax(l / t); the k positions of lowest entropy H with
       sum(H) - max(H) <= gamma are accepted (`EntropyBoundSampler.accept_canvas`, arXiv 2505.24857), every
       other position is re-noised with a fresh uniform token;
     - the canvas stops early once argmax(l / t) has not changed over `stability_threshold` passes and the mean
       entropy of l / t is below `confidence_threshold` (`StableAndConfidentStoppingCriteria`);
     the canvas's tokens are the argmax of the last pass's tempered logits;
  3. a row whose canvas holds an EOS id is done: its tokens after that EOS, and every later canvas, are the pad id
     (the generation config's `pad_token_id`, else the text config's), as `generate` writes them.
The acceptance, the temperature schedule and the stopping rule are transformers' own classes, called as `generate`
calls them; the model runs through its own `forward` and encoder.

Per row: positions count the row's real tokens (a left-padded row has the positions of the row alone; `generate`
shares one position range across the batch), and its random draws (the first canvas, then per pass the drawn
tokens and the re-noising) come from its own generator seeded with its seed, in `generate`'s order, so that at
batch 1 `decode(..., seeds=[s])` equals `torch.manual_seed(s); model.generate(...)` token for token, and a row
decodes alone as in any batch (where its logits do not depend on the batch: float64; in float32 they differ by
about 1e-5, which can change a drawn token). A row that stops denoising leaves the decoder's batch. NFE per row: the decoder
passes it took part in (`generate`'s `decoder_forward_passes`); `encoder_passes_per_row` counts the encoder passes.
"""
from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Sequence

import torch

from mdlm_eval.decoding.commit import Block, CommitRule, register
from mdlm_eval.decoding.noise import RowNoise
from mdlm_eval.decoding.spec import UNIFORM_NOISE_MODEL_TYPES, DecoderSpec, check_noise
from mdlm_eval.errors import UsageError

if TYPE_CHECKING:
    from mdlm_eval.decoding.loop import DecodeOutput


def uniform_noise(model) -> bool:
    """Whether `model` has no mask token and noises with uniform random tokens: its `uniform_noise` attribute, else
    its config's model_type (DiffusionGemma)."""
    declared = getattr(model, "uniform_noise", None)
    if declared is not None:
        return bool(declared)
    return getattr(getattr(model, "config", None), "model_type", None) in UNIFORM_NOISE_MODEL_TYPES


@register("renoise")
class RenoiseRule(CommitRule):
    """The layout checks' view of `renoise` (adaptive, one span); `decode_uniform_canvas` does the decoding."""

    adaptive = True

    def layout(self) -> list[Block]:
        return [Block(0, self.gen_length, None)]

    def select(self, step):
        raise RuntimeError("commit renoise is decoded by decode_uniform_canvas, not by the masked loop")


def check_uniform_canvas(model, spec: DecoderSpec) -> None:
    """One line for a decoder and a model that do not fit: a mask decoder on a model without a mask token, the
    renoise decoder on a mask model, or a field the renoise decoder cannot honour."""
    check_noise(spec, uniform_noise(model), getattr(getattr(model, "config", None), "model_type", type(model).__name__))
    for field, value, default in (("cache", spec.cache, "none"), ("cfg_scale", spec.cfg_scale, 0.0),
                                  ("temperature", spec.temperature, 0.0),  # the schedule t_min..t_max tempers
                                  ("block_length", spec.block_length, None), ("eos_policy", spec.eos_policy, "none"),
                                  ("top_p", spec.top_p, None), ("top_k", spec.top_k, None)):
        if value != default:
            raise UsageError(f"decoder {spec.name}: {field}={value} does not apply to commit renoise (the canvas is "
                             f"the model's own, {getattr(model.config, 'canvas_length', '?')} tokens); drop it")


def cache_rows(cache, index: torch.Tensor):
    """The cache of some batch rows: a shallow copy whose layers hold those rows (the decoder only reads it)."""
    part = copy.copy(cache)
    part.layers = [copy.copy(layer) for layer in cache.layers]
    for layer in part.layers:
        layer.batch_select_indices(index)
    return part


@torch.no_grad()
def decode_uniform_canvas(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    spec: DecoderSpec,
    *,
    gen_length: int,
    eos_token_ids: Sequence[int],
    attention_mask: torch.Tensor | None = None,
    seeds: Sequence[int] | None = None,
    trace: bool = False,
) -> "DecodeOutput":
    """[prompt ++ `gen_length` tokens] per row by DiffusionGemma's canvas loop (module docstring); `steps` is the
    most decoder passes per canvas (a step word is read against the canvas length)."""
    from transformers.cache_utils import DynamicCache
    from transformers.models.diffusion_gemma.generation_diffusion_gemma import (
        EntropyBoundSampler, EntropyBoundSamplerConfig, LinearTemperatureScheduleLogitsProcessor,
        StableAndConfidentStoppingCriteria)

    check_uniform_canvas(model, spec)
    if input_ids.dim() != 2 or input_ids.dtype != torch.long:
        raise UsageError(f"input_ids must be a 2-D LongTensor [batch, prompt_len], got {tuple(input_ids.shape)}")
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise UsageError(f"attention_mask shape {tuple(attention_mask.shape)} differs from input_ids "
                         f"{tuple(input_ids.shape)}")
    if gen_length < 1:
        raise UsageError(f"gen_length must be >= 1, got {gen_length}")
    if trace:
        raise UsageError(f"decoder {spec.name} records no unmasking trace: its positions are re-noised, never "
                         f"unmasked; decode without trace")
    config = model.config
    text = config.get_text_config()
    vocab, width = text.vocab_size, config.canvas_length
    eos_ids = list(eos_token_ids)
    if any(not 0 <= i < vocab for i in eos_ids):
        raise UsageError(f"eos_token_ids {eos_ids} is outside the model's vocabulary of {vocab} tokens")
    if not bool(((input_ids >= 0) & (input_ids < vocab)).all()):
        raise UsageError(f"input_ids hold ids outside the model's vocabulary of {vocab} tokens")
    steps = spec.resolve_steps(width)
    batch, device = input_ids.shape[0], input_ids.device
    noise = RowNoise(list(seeds) if seeds is not None else [0] * batch, device)
    if len(noise.generators) != batch:
        raise UsageError(f"seeds has {len(noise.generators)} entries for a batch of {batch}")
    generation = getattr(model, "generation_config", None)
    pad_id = getattr(generation, "pad_token_id", None)
    pad_id = int(pad_id if pad_id is not None else (text.pad_token_id or 0))

    real = (torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool())
    own_len = real.sum(1)  # P_r, each row's prompt without its padding
    positions = (real.long().cumsum(1) - 1).clamp(min=0)  # the positions of the row alone
    sampler = EntropyBoundSampler(EntropyBoundSamplerConfig(entropy_bound=float(spec.gamma)), canvas_length=width,
                                  vocab_size=vocab, max_denoising_steps=steps)
    temperature = LinearTemperatureScheduleLogitsProcessor(t_min=spec.t_min, t_max=spec.t_max,
                                                           max_denoising_steps=steps)
    embed_dtype = model.model.decoder.embed_tokens.weight.dtype

    def uniform_canvas(rows: list[int]) -> torch.Tensor:
        """[len(rows), C] uniform tokens, each row from its own stream (`EntropyBoundSampler.initialize_canvas`)."""
        return torch.cat([torch.randint(0, vocab, (1, width), generator=noise.generators[r], device=device)
                          for r in rows])

    canvases = math.ceil(gen_length / width)
    generated = input_ids.new_full((batch, canvases * width), pad_id)
    passes, encoder_passes = [0] * batch, [0] * batch
    cache = DynamicCache(config=config.get_text_config(decoder=True))
    rows = list(range(batch))  # the rows still generating; the cache holds exactly these, in this order
    context, context_pos = input_ids, positions  # what the next encoder pass reads
    seen_mask = real  # [rows, tokens so far] the decoder's key mask over the cache
    nfe = 0
    for c in range(canvases):
        # 1. encoder pass: the new context's keys and values into the cache
        model.model.encoder(input_ids=context, attention_mask=seen_mask, cache=cache, position_ids=context_pos)
        for r in rows:
            encoder_passes[r] += 1
        start = own_len[rows] + c * width  # each row's first canvas position
        canvas_pos = start.unsqueeze(1) + torch.arange(width, device=device)
        decoder_mask = torch.nn.functional.pad(seen_mask, (0, width), value=True)

        # 2. the denoising passes of this canvas
        canvas = uniform_canvas(rows)
        argmax = canvas.clone()
        condition = None  # the previous pass's tempered logits (self-conditioning)
        stop = [StableAndConfidentStoppingCriteria(stability_threshold=spec.stability_threshold,
                                                   confidence_threshold=spec.confidence_threshold) for _ in rows]
        live = list(range(len(rows)))  # positions in `rows` still denoising
        index, live_cache = None, cache  # their index (None: all) and their rows of the cache

        def pick(t: torch.Tensor | None) -> torch.Tensor | None:
            return t if t is None or index is None else t.index_select(0, index)

        for left in range(steps, 0, -1):
            logits = model(decoder_input_ids=pick(canvas), self_conditioning_logits=pick(condition),
                           decoder_attention_mask=pick(decoder_mask), cache=live_cache,
                           decoder_position_ids=pick(canvas_pos)).logits
            nfe += 1
            step = torch.tensor(left, device=device, dtype=torch.int32)  # as `_denoising_step` passes it
            tempered = temperature(None, logits, cur_step=step)
            probs = torch.softmax(tempered, dim=-1, dtype=torch.float32)
            drawn = torch.cat([torch.multinomial(probs[i], 1, generator=noise.generators[rows[j]]).squeeze(-1)[None]
                               for i, j in enumerate(live)])
            current = pick(canvas)
            accepted = sampler.accept_canvas(current, drawn, tempered, step)
            renoised = torch.where(~sampler.accepted_token_mask, uniform_canvas([rows[j] for j in live]), accepted)
            new_argmax = tempered.argmax(-1)
            done = [bool(stop[j](new_argmax[i:i + 1], tempered[i:i + 1])) for i, j in enumerate(live)]
            if index is None:
                canvas, argmax = renoised, new_argmax
                condition = tempered.to(embed_dtype)
            else:
                canvas[index], argmax[index] = renoised, new_argmax
                condition[index] = tempered.to(embed_dtype)
            for j in live:
                passes[rows[j]] += 1
            if any(done):  # these rows leave the decoder's batch
                live = [j for j, d in zip(live, done) if not d]
                if not live:
                    break
                index = torch.tensor(live, device=device)
                live_cache = cache_rows(cache, index)

        # 3. the canvas joins the rows' tokens; rows with an EOS are done (pad after it, as `generate` writes it)
        is_eos = torch.isin(argmax, torch.tensor(eos_ids, device=device, dtype=argmax.dtype))
        after = is_eos.long().cumsum(1)
        tokens = argmax.masked_fill((after > 0) & ~((after == 1) & is_eos), pad_id)
        generated[torch.tensor(rows, device=device), c * width:(c + 1) * width] = tokens
        keep = [j for j in range(len(rows)) if not bool(is_eos[j].any())]
        if c == canvases - 1 or not keep:
            break
        context, context_pos = argmax, canvas_pos
        seen_mask = torch.nn.functional.pad(seen_mask, (0, width), value=True)
        if len(keep) < len(rows):
            kept = torch.tensor(keep, device=device)
            cache.batch_select_indices(kept)
            context, context_pos, seen_mask = context[kept], context_pos[kept], seen_mask[kept]
            rows = [rows[j] for j in keep]

    from mdlm_eval.decoding.loop import DecodeOutput

    sequences = torch.cat([input_ids, generated[:, :gen_length]], dim=1)
    return DecodeOutput(sequences=sequences, nfe=nfe, nfe_per_row=passes, encoder_passes_per_row=encoder_passes)
