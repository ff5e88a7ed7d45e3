"""Plain re-statements of the reference decoders, written like the originals (full tensors, per-row loops).

The oracle of the exactness tests and the baseline of `make bench`; not used for decoding.

LLaDA `generate` (github ML-GSAI/LLaDA generate.py) and `eoser_generate`, `ass_generate`,
`eoser_ass_generate` (github yjyddq/EOSER-ASS-RL eval/generate.py); Fast-dLLM `generate` with `threshold` or
`factor` (github NVlabs/Fast-dLLM llada/generate.py); the EB-sampler as d2Cache writes it (github
Kamichanw/d2Cache src/generation/vanilla.py, `gamma`); Dream `_sample` (DreamLM/Dream, the hub's
generation_utils.py, with its temperature, top_p and top_k); WINO `decoding_wino` (github Feng-Hong/WINO-DLLM
LLaDA/decoding.py). Temperature 0 except Dream's. Exact ties in the confidence are broken leftmost (torch's CPU
`topk` leaves their order unspecified), except in Dream's, which calls `torch.topk` as Dream does: its ties are
common (truncation to one token gives confidence 1), and the decoder reproduces them by the same call.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def topk_leftmost(row: torch.Tensor, k: int) -> torch.Tensor:
    return row.sort(descending=True, stable=True).indices[:k]


def llada_counts(masked: int, steps: int) -> list[int]:
    return [masked // steps + (1 if i < masked % steps else 0) for i in range(steps)]


def _logits(model, x, attention_mask, cfg_scale, prompt_index, mask_id):
    if cfg_scale > 0:
        un_x = x.clone()
        un_x[prompt_index] = mask_id
        am = None if attention_mask is None else torch.cat([attention_mask, attention_mask])
        logits, un_logits = torch.chunk(model(torch.cat([x, un_x]), attention_mask=am).logits, 2, dim=0)
        return un_logits + (cfg_scale + 1) * (logits - un_logits)
    return model(x, attention_mask=attention_mask).logits


def _commit(x, x0, x0_p, mask_index, end, counts):
    x0_p[:, end:] = -torch.inf
    x0 = torch.where(mask_index, x0, x)
    confidence = torch.where(mask_index, x0_p, torch.tensor(-torch.inf, dtype=x0_p.dtype, device=x0_p.device))
    for j in range(confidence.shape[0]):
        if counts[j] > 0:
            idx = topk_leftmost(confidence[j], counts[j])
            x[j, idx] = x0[j, idx]


@torch.no_grad()
def llada_generate(model, prompt, attention_mask=None, steps=16, gen_length=16, block_length=16, cfg_scale=0.0,
                   mask_id=126336, eos_id=126081, eot_id=126348, logits_eos_inf=False, confidence_eos_eot_inf=False,
                   eoser_gamma=None):
    """LLaDA generate at temperature 0. `eoser_gamma=(lo, hi)` turns it into `eoser_generate`."""
    B, P = prompt.shape
    x = torch.full((B, P + gen_length), mask_id, dtype=torch.long, device=prompt.device)
    x[:, :P] = prompt
    if attention_mask is not None:
        attention_mask = torch.cat([attention_mask, torch.ones(B, gen_length, dtype=attention_mask.dtype, device=prompt.device)], -1)
    prompt_index = x != mask_id
    assert gen_length % block_length == 0
    num_blocks = gen_length // block_length
    assert steps % num_blocks == 0
    spb = steps // num_blocks
    for nb in range(num_blocks):
        block_mask = x[:, P + nb * block_length: P + (nb + 1) * block_length] == mask_id
        counts = [llada_counts(int(m), spb) for m in block_mask.sum(1)]
        for i in range(spb):
            mask_index = x == mask_id
            logits = _logits(model, x, attention_mask, cfg_scale, prompt_index, mask_id)
            if logits_eos_inf:
                logits[:, :, eos_id] = -torch.inf
            x0 = torch.argmax(logits, dim=-1)
            if confidence_eos_eot_inf:
                logits[:, :, eos_id] = logits[:, :, eot_id] = -torch.inf
            p = F.softmax(logits, dim=-1)
            x0_p = torch.gather(p, -1, x0.unsqueeze(-1)).squeeze(-1)
            if eoser_gamma is not None:
                lo, hi = eoser_gamma
                fac = lo + (hi - lo) * (min(max(i, 0), steps - 1) / (steps - 1)) if steps > 1 else hi
                x0_p = torch.where(x0 == eos_id, x0_p * fac, x0_p)
            _commit(x, x0, x0_p, mask_index, P + (nb + 1) * block_length, [c[i] for c in counts])
    return x


@torch.no_grad()
def ass_generate(model, prompt, gen_length=16, block_num=1, cfg_scale=0.0, mask_id=126336, eos_id=126081,
                 eoser_gamma=None):
    """`ass_generate` (and `eoser_ass_generate` with `eoser_gamma=(lo, hi)`) at temperature 0, no attention mask."""
    B, P = prompt.shape
    S = int(torch.log2(torch.tensor(gen_length, dtype=torch.float32)).item())
    steps = S
    x = torch.full((B, P + gen_length), mask_id, dtype=torch.long, device=prompt.device)
    x[:, :P] = prompt
    prompt_index = x != mask_id
    sizes, block_steps = [], []
    rem, remaining = gen_length - 2**S, gen_length
    if block_num == 1:
        sizes, block_steps = [gen_length], [list(range(S))]
    else:
        power = S - 1
        for b in range(block_num - 1, -1, -1):
            if b == block_num - 1:
                size, bs = 2**power + 1 + rem, [power]
                power -= 1
            elif b == 0:
                size, bs = remaining, list(range(power + 1))
            else:
                size, bs = 2**power, [power]
                power -= 1
            remaining -= size
            sizes.insert(0, size)
            block_steps.insert(0, bs)
    counts = []
    for i in range(steps):
        if i == steps - 1:
            counts.append(sizes[-1] - (2**i - 1) if len(sizes) == 1 else sizes[-1])
        else:
            counts.append(2**i)
    pos = P
    for size, bs in zip(sizes, block_steps):
        end = pos + size
        for i in bs:
            mask_index = x == mask_id
            logits = _logits(model, x, None, cfg_scale, prompt_index, mask_id)
            x0 = torch.argmax(logits, dim=-1)
            p = F.softmax(logits, dim=-1)
            x0_p = torch.gather(p, -1, x0.unsqueeze(-1)).squeeze(-1)
            if eoser_gamma is not None:
                lo, hi = eoser_gamma
                fac = lo + (hi - lo) * ((2 ** (i + 1) - 1) / 2**steps) if steps > 1 else hi
                x0_p = torch.where(x0 == eos_id, x0_p * fac, x0_p)
            _commit(x, x0, x0_p, mask_index, end, [counts[i]] * B)
        pos = end
    return x


@torch.no_grad()
def fast_dllm_generate(model, prompt, attention_mask=None, gen_length=64, block_length=32, threshold=None, factor=None,
                       mask_id=126336):
    """Fast-dLLM `generate` with `threshold` (tau) or `factor` (f), low_confidence, no cache. Returns (x, nfe).

    Each block loops until no row has a mask in it (`while True ... break`); `steps` plays no part. The factor
    path skips rows with no masks left (the released code indexes an empty list there)."""
    B, P = prompt.shape
    x = torch.full((B, P + gen_length), mask_id, dtype=torch.long, device=prompt.device)
    x[:, :P] = prompt
    if attention_mask is not None:
        attention_mask = torch.cat([attention_mask, torch.ones(B, gen_length, dtype=attention_mask.dtype)], -1)
    nfe = 0
    for nb in range(gen_length // block_length):
        start, end = P + nb * block_length, P + (nb + 1) * block_length
        while True:
            nfe += 1
            mask_index = x == mask_id
            logits = model(x, attention_mask=attention_mask).logits
            mask_index[:, end:] = 0
            x0 = torch.argmax(logits, dim=-1)
            p = F.softmax(logits.to(torch.float64), dim=-1)
            x0_p = torch.gather(p, -1, x0.unsqueeze(-1)).squeeze(-1)
            x0 = torch.where(mask_index, x0, x)
            confidence = torch.where(mask_index, x0_p, torch.tensor(-torch.inf, dtype=x0_p.dtype))
            transfer = torch.zeros_like(x0, dtype=torch.bool)
            for j in range(B):
                n = int(mask_index[j].sum())
                if factor is None:
                    select = topk_leftmost(confidence[j], n)
                    transfer[j, select] = True
                    for k in range(1, n):
                        if confidence[j, select[k]] < threshold:
                            transfer[j, select[k]] = False
                elif n > 0:
                    threshs = [1 - factor / (m + 1) for m in range(1, n + 1)]
                    threshs[0] = -1
                    ranked = torch.sort(confidence[j][mask_index[j]], descending=True)[0]
                    for top_i in range(len(threshs)):
                        if ranked[top_i] < threshs[top_i]:
                            break
                    if top_i == 0 or top_i == len(threshs) - 1:
                        top_i += 1
                    transfer[j, topk_leftmost(confidence[j], top_i)] = True
            x[transfer] = x0[transfer]
            if (x[:, start:end] == mask_id).sum() == 0:
                break
    return x, nfe


@torch.no_grad()
def eb_generate(model, prompt, attention_mask=None, gen_length=64, block_length=32, gamma=0.01, alg="maskgit_plus",
                mask_id=126336):
    """d2Cache `vanilla_generate` with `gamma` (EB-sampler), num_transfer_tokens 1. Returns (x, nfe per row).

    Rows with no masks left in the block sit out the forward pass (d2Cache's `check_can_generate`). The
    cummax runs along each row (d2Cache's `torch.cummax(entropy, dim=0)` runs across the batch)."""
    B, P = prompt.shape
    x = torch.full((B, P + gen_length), mask_id, dtype=torch.long, device=prompt.device)
    x[:, :P] = prompt
    if attention_mask is not None:
        attention_mask = torch.cat([attention_mask, torch.ones(B, gen_length, dtype=attention_mask.dtype)], -1)
    nfe = [0] * B
    for nb in range(gen_length // block_length):
        block = torch.zeros(B, gen_length, dtype=torch.bool)
        block[:, nb * block_length: (nb + 1) * block_length] = True
        while True:
            remaining = x[:, P:] == mask_id
            active = torch.nonzero((remaining & block).any(1)).squeeze(1)
            if active.numel() == 0:
                break
            am = None if attention_mask is None else attention_mask[active]
            logits = model(x[active], attention_mask=am).logits[:, P:]
            probs = torch.softmax(logits, dim=-1)
            confidence, x0 = probs.max(dim=-1)
            if alg == "entropy":
                confidence = torch.sum(probs * torch.log(probs + 1e-10), dim=-1)
            eligible = remaining[active] & block[active]
            confidence = torch.where(eligible, confidence, -torch.inf)
            ids = torch.sort(confidence, dim=-1, descending=True, stable=True).indices
            entropy = torch.gather(torch.distributions.Categorical(probs=probs.float()).entropy(), -1, ids)
            bound = torch.cumsum(entropy, dim=1) - torch.cummax(entropy, dim=1).values
            k = torch.clamp((bound <= gamma).sum(dim=1), min=torch.ones_like(ids[:, 0]), max=eligible.sum(1))
            for i, row in enumerate(active.tolist()):
                select = topk_leftmost(confidence[i], int(k[i]))
                x[row, P + select] = x0[i, select]
                nfe[row] += 1
    return x, nfe


def dream_top_p_logits(logits, top_p):
    sorted_logits, sorted_indices = torch.sort(logits, descending=True)
    cumulative_probs = torch.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)
    sorted_indices_to_remove = cumulative_probs > top_p
    sorted_indices_to_remove[..., 1:] = sorted_indices_to_remove[..., :-1].clone()
    sorted_indices_to_remove[..., 0] = 0
    mask = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, sorted_indices, sorted_indices_to_remove)
    return logits.masked_fill(mask, torch.finfo(logits.dtype).min)


def dream_top_k_logits(logits, top_k):
    top_k = min(top_k, logits.size(-1))
    indices_to_remove = logits < torch.topk(logits, top_k)[0][..., -1, None]
    return logits.masked_fill(indices_to_remove, torch.finfo(logits.dtype).min)


def dream_sample_tokens(logits, alg, temperature=0.0, top_p=None, top_k=None, generator=None):
    """Dream `sample_tokens`: (confidence, x0). At temperature > 0, x0 ~ Categorical(p) from the global RNG
    (`generator=None`, Dream's own call) or from `generator` (the same draw: `Categorical.sample` is
    `multinomial(probs, 1, True)`)."""
    if temperature > 0:
        logits = logits / temperature
    if top_p is not None and top_p < 1:
        logits = dream_top_p_logits(logits, top_p)
    if top_k is not None:
        logits = dream_top_k_logits(logits, top_k)
    probs = torch.softmax(logits, dim=-1)
    if temperature > 0:
        try:
            dist = torch.distributions.Categorical(probs=probs)
            x0 = dist.sample() if generator is None else torch.multinomial(dist.probs, 1, True, generator=generator)[:, 0]
            confidence = torch.gather(probs, -1, x0.unsqueeze(-1)).squeeze(-1)
        except Exception:
            confidence, x0 = probs.max(dim=-1)
    else:
        confidence, x0 = probs.max(dim=-1)
    if alg == "topk_margin":
        top = torch.sort(probs, dim=-1, descending=True)[0]
        confidence = top[:, 0] - top[:, 1]
    if alg == "entropy":
        confidence = torch.sum(probs * torch.log(probs + 1e-10), dim=-1)
    return confidence, x0


@torch.no_grad()
def dream_generate(model, prompt, gen_length=32, steps=16, eps=1e-3, alg="entropy", alg_temp=0.0, mask_id=126336,
                   generator=None, temperature=0.0, top_p=None, top_k=None):
    """Dream `_sample` on a model with Dream's right-shifted logits, no attention mask.

    `generator` stands for the global RNG Dream draws from (origin's transfer draws, x0's Categorical draws,
    alg_temp's multinomial); None: the global RNG itself, as Dream calls it."""
    sample = dict(temperature=temperature, top_p=top_p, top_k=top_k, generator=generator)
    x = F.pad(prompt, (0, gen_length), value=mask_id)
    timesteps = torch.linspace(1, eps, steps + 1, device=x.device)
    for i in range(steps):
        mask_index = x == mask_id
        logits = model(x).logits
        logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
        mask_logits = logits[mask_index]
        t, s = timesteps[i], timesteps[i + 1]
        if alg == "origin":
            p_transfer = 1 - s / t if i < steps - 1 else 1
            x0 = torch.zeros_like(x[mask_index], dtype=torch.long) + mask_id
            transfer = torch.rand(*x0.shape, generator=generator) < p_transfer
            _, x0[transfer] = dream_sample_tokens(mask_logits[transfer], "maskgit_plus", **sample)
            x[mask_index] = x0.clone()
            continue
        confidence, x0 = dream_sample_tokens(mask_logits, alg, **sample)
        num_mask_token = mask_index.sum() / mask_index.shape[0]
        number = int(num_mask_token * (1 - s / t)) if i < steps - 1 else int(num_mask_token)
        full_confidence = torch.full_like(x, -torch.inf, dtype=logits.dtype)
        full_confidence[mask_index] = confidence
        if number > 0:
            if alg_temp is None or alg_temp == 0:
                _, transfer_index = torch.topk(full_confidence, number)  # Dream's own call: its tie order
            else:
                full_confidence = F.softmax(full_confidence / alg_temp, dim=-1)
                transfer_index = torch.multinomial(full_confidence, num_samples=number, generator=generator)
            x_ = torch.zeros_like(x) + mask_id
            x_[mask_index] = x0.clone()
            rows = torch.arange(x.size(0)).unsqueeze(1).expand_as(transfer_index)
            x[rows, transfer_index] = x_[rows, transfer_index]
    return x


# ---- Fast-dLLM (github NVlabs/Fast-dLLM llada/generate.py): `generate`, `generate_with_prefix_cache`,
# `generate_with_dual_cache`, with `get_transfer_index` (count-based, or `threshold`), temperature 0,
# low-confidence remasking. The model's cached forwards use the block-cache protocol of the native LLaDA
# model (`window_start`), which equals Fast-dLLM's cut prefix cache and `replace_position` dual cache.


def _fast_dllm_cached_transfer(logits, mask_index, x, counts, threshold):
    """`get_transfer_index`: x0 = argmax; count-based: the `counts[j]` most confident masked positions; threshold:
    every masked position with confidence >= threshold, always the most confident one."""
    x0 = torch.argmax(logits, dim=-1)
    p = F.softmax(logits.to(torch.float64), dim=-1)
    x0_p = torch.gather(p, -1, x0.unsqueeze(-1)).squeeze(-1)
    x0 = torch.where(mask_index, x0, x)
    confidence = torch.where(mask_index, x0_p, torch.tensor(-torch.inf, dtype=x0_p.dtype, device=x0_p.device))
    transfer = torch.zeros_like(x0, dtype=torch.bool)
    for j in range(confidence.shape[0]):
        k = int(mask_index[j].sum()) if threshold is not None else counts[j]
        idx = topk_leftmost(confidence[j], k)
        transfer[j, idx] = True
        if threshold is not None:
            for n in range(1, k):
                if confidence[j, idx[n]] < threshold:
                    transfer[j, idx[n]] = False
    return x0, transfer


@torch.no_grad()
def fast_dllm_cached_generate(model, prompt, attention_mask=None, steps=16, gen_length=16, block_length=16,
                              mask_id=126336, threshold=None, cache="none"):
    """(x, nfe). cache: none (`generate`), prefix (`generate_with_prefix_cache`), dual (`generate_with_dual_cache`).
    Every block: a full forward (with the cache filled when cached), then, until the block has no masks, forwards
    of the whole canvas (none), the block and everything after it (prefix) or the block alone (dual)."""
    B, P = prompt.shape
    x = torch.full((B, P + gen_length), mask_id, dtype=torch.long, device=prompt.device)
    x[:, :P] = prompt
    if attention_mask is not None:
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones(B, gen_length)], -1)
    assert gen_length % block_length == 0
    num_blocks = gen_length // block_length
    assert steps % num_blocks == 0
    spb = steps // num_blocks
    nfe = 0
    for nb in range(num_blocks):
        s, e = P + nb * block_length, P + (nb + 1) * block_length
        counts = [llada_counts(int(m), spb) for m in (x[:, s:e] == mask_id).sum(1)]
        out = model(x, attention_mask=attention_mask, use_cache=cache != "none")
        nfe += 1
        mask_index = x == mask_id
        mask_index[:, e:] = False
        x0, transfer = _fast_dllm_cached_transfer(out.logits, mask_index, x, [c[0] for c in counts], threshold)
        x[transfer] = x0[transfer]
        i = 1
        while (x[:, s:e] == mask_id).any():
            start, end = (0, x.shape[1]) if cache == "none" else (s, e if cache == "dual" else x.shape[1])
            if cache == "none":
                logits = model(x, attention_mask=attention_mask).logits
            else:
                logits = model(x[:, start:end], attention_mask=attention_mask, past_key_values=out.past_key_values,
                               window_start=start).logits
            nfe += 1
            window = x[:, start:end]  # a view: commits land in x
            mask_index = window == mask_id
            mask_index[:, e - start:] = False
            x0, transfer = _fast_dllm_cached_transfer(logits, mask_index, window, [c[i] if i < spb else 0 for c in counts],
                                               threshold)
            window[transfer] = x0[transfer]
            i += 1
    return x, nfe


@torch.no_grad()
def wino_generate(model, prompt, gen_length=32, block_length=16, threshold=0.6, threshold_back=0.9, mask_id=126336):
    """WINO `decoding_wino` at temperature 0, batch 1 (as released). Returns (x, nfe)."""
    P = prompt.shape[1]
    x = torch.full((1, P + gen_length + block_length), mask_id, dtype=torch.long)
    x[:, :P] = prompt
    step = 0
    for nb in range(gen_length // block_length):
        start, end = P + nb * block_length, P + (nb + 1) * block_length
        mask_block = x == mask_id
        mask_block[:, end:] = False
        unmask_block = torch.zeros_like(mask_block)
        unmask_block[:, -block_length:] = ~mask_block[:, start:end]
        position_ids = torch.cat([torch.arange(P + gen_length), torch.arange(start, end)]).unsqueeze(0)
        attention = torch.ones(1, 1, x.shape[1], x.shape[1], dtype=torch.bool)
        attention[:, :, :, -block_length:] = False
        attention[:, :, -block_length:, -block_length:] = True
        attention[:, :, -block_length:, start:end] = ~torch.eye(block_length, dtype=torch.bool)
        last_accept = 30
        while mask_block.any():
            max_accept = min(max(int(mask_block.sum() * 0.7), 5), 20)
            logits = model(x, attention_mask=attention, position_ids=position_ids).logits
            x0 = torch.argmax(logits, dim=-1)
            shift_left = torch.zeros_like(unmask_block)
            shift_left[:, start:end] = unmask_block[:, -block_length:]
            x0[unmask_block] = x[shift_left]
            p = F.softmax(logits.to(torch.float64), dim=-1)
            x0_p = torch.gather(p, -1, x0.unsqueeze(-1)).squeeze(-1)
            x0 = torch.where(mask_block, x0, x)
            confidence = torch.where(mask_block, x0_p, -torch.inf)
            confidence_back = torch.where(unmask_block, x0_p, torch.inf)
            transfer = confidence > threshold
            if transfer.sum() > max_accept:
                transfer = torch.zeros_like(transfer)
                transfer[0, topk_leftmost(confidence[0], max_accept)] = True
            elif not transfer.any():
                transfer[0, topk_leftmost(confidence[0], 1)] = True
            x[transfer] = x0[transfer]
            num_accept = transfer.sum()
            if num_accept > 1:
                remask = confidence_back < threshold_back
                if remask.sum() >= last_accept:
                    remask = torch.zeros_like(remask)
                    remask[0, confidence_back[0].sort(stable=True).indices[: last_accept - 1]] = True
            else:
                remask = torch.zeros_like(transfer)
            remask_shift = torch.zeros_like(remask)
            remask_shift[:, start:end] = remask[:, -block_length:]
            x[remask_shift] = mask_id
            mask_block[transfer] = False
            mask_block[remask_shift] = True
            step += 1
            transfer_shift = torch.zeros_like(transfer)
            transfer_shift[:, -block_length:] = transfer[:, start:end]
            unmask_block[transfer_shift] = True
            unmask_block[remask] = False
            last_accept = num_accept
    return x[:, : P + gen_length], step


def _dynamic_commit(logits, window, mask_index, k, threshold):
    """One step of SDAR's `low_confidence_dynamic` and LLaDA2's `generate` at temperature 0: x0 = argmax, confidence
    = p(x0) at the masked positions (-inf elsewhere); commit those with confidence > threshold if at least k, else
    the top min(k, masked). Returns the new window."""
    p = F.softmax(logits.to(torch.float64), dim=-1)
    x0 = p.argmax(-1)
    confidence = torch.where(mask_index, p.gather(-1, x0[:, None]).squeeze(-1),
                             torch.tensor(-torch.inf, dtype=p.dtype))
    take = confidence > threshold
    if take.sum() < k:
        take = torch.zeros_like(take)
        take[topk_leftmost(confidence, min(k, int(mask_index.sum())))] = True
    return torch.where(take, x0, window)


@torch.no_grad()
def dynamic_generate(model, prompt, steps=16, gen_length=32, block_length=8, threshold=0.9, mask_id=126336):
    """Batch 1, temperature 0: the commit rule of SDAR's `block_diffusion_generate` with `low_confidence_dynamic`
    (JetAstra/SDAR evaluation/opencompass/.../huggingface_bd3.py) and LLaDA2's `generate` (inclusionAI/dInfer
    modeling_llada2_moe.py), in LLaDA's semi-autoregressive layout over the answer canvas (uncached, full forward).
    Per block, steps // num_blocks steps with k = `get_num_transfer_tokens`; at a step: confidence = p(x0) at the
    masked positions, -inf elsewhere; the positions with confidence > threshold if at least k, else the top k;
    the block ends when it has no mask left. Returns (sequence, forward passes)."""
    x = torch.cat([prompt, torch.full((1, gen_length), mask_id, dtype=torch.long, device=prompt.device)], 1)
    P, nfe = prompt.shape[1], 0
    num_blocks = gen_length // block_length
    per_block = steps // num_blocks
    for b in range(num_blocks):
        s, e = P + b * block_length, P + (b + 1) * block_length
        counts = llada_counts(block_length, per_block)
        for i in range(per_block):
            mask_index = x[0, s:e] == mask_id
            if not mask_index.any():
                break
            logits = model(x).logits[0, s:e]
            nfe += 1
            x[0, s:e] = _dynamic_commit(logits, x[0, s:e], mask_index, counts[i], threshold)
    return x, nfe


def block_diffusion_generate(model, prompt, gen_length=32, block_length=8, steps=8, threshold=0.95,
                             mask_id=126336, eos_id=None):
    """Batch 1, temperature 0: LLaDA2's `generate` (inclusionAI LLaDA2 modeling_llada2_moe.py; the copy in
    ZHZisZZ/dllm dllm/pipelines/llada2/models/) on a block-causal model, uncached as it is. The canvas holds
    ceil((P + L) / B) blocks from position 0; for each block from the one holding position P: up to `steps` passes
    over x[:, :block end] (the model's block-causal mask with blocks of B), k = `get_num_transfer_tokens(B, steps)`
    per pass, every masked position with p(x0) > threshold if at least k, else the top min(k, masked); after the
    block, stop if x[P:block end] holds `eos_id`. SDAR's `block_diffusion_generate` (JetAstra/SDAR
    huggingface_bd3.py, `low_confidence_dynamic`, greedy) commits the same tokens with cached passes.
    Returns (the canvas [1, num_blocks * B], forward passes)."""
    P = prompt.shape[1]
    num_blocks = -(-(P + gen_length) // block_length)
    x = torch.full((1, num_blocks * block_length), mask_id, dtype=torch.long, device=prompt.device)
    x[:, :P] = prompt
    counts = llada_counts(block_length, steps)
    nfe = 0
    for b in range(P // block_length, num_blocks):
        s, e = b * block_length, (b + 1) * block_length
        for i in range(steps):
            mask_index = x[0, s:e] == mask_id
            if not mask_index.any():
                break
            logits = model(x[:, :e], block_length=block_length).logits[0, s:e]
            nfe += 1
            x[0, s:e] = _dynamic_commit(logits, x[0, s:e], mask_index, counts[i], threshold)
        if eos_id is not None and (x[0, P:e] == eos_id).any():
            break
    return x, nfe


@torch.no_grad()
def editing_generate(model, prompt, gen_length=32, block_length=8, threshold=0.7, editing_threshold=0.5,
                     max_post_steps=16, mask_id=126336, eos_id=None):
    """Batch 1, temperature 0: LLaDA2.1's `generate` (inclusionAI modeling_llada2_moe.py of LLaDA2.1; the copy in
    ZHZisZZ/dllm dllm/pipelines/llada21/models/modeling_llada21_moe.py) on a block-causal model, uncached as it is,
    with `eos_early_stop`. Blocks as `block_diffusion_generate`; in a block, loop: if no mask is left, count a post
    step and leave after `max_post_steps` of them; one pass over x[:, :block end]; x0 = argmax, p = p(x0); masks with
    p > threshold take x0 (else the single best mask); non-mask, non-prompt positions of the block whose x0 differs
    with p > editing_threshold take x0; leave when the pass began without masks and edited nothing. After the
    block, stop if x[P:block end] holds no mask and holds `eos_id`. Returns (the canvas, forward passes, tokens
    re-written)."""
    P = prompt.shape[1]
    num_blocks = -(-(P + gen_length) // block_length)
    x = torch.full((1, num_blocks * block_length), mask_id, dtype=torch.long, device=prompt.device)
    x[:, :P] = prompt
    nfe = edits = 0
    for b in range(P // block_length, num_blocks):
        s, e = b * block_length, (b + 1) * block_length
        prompt_in_block = torch.arange(s, e, device=x.device) < P
        post = 0
        while True:
            old = x[0, s:e].clone()
            masked = old == mask_id
            if not masked.any():
                post += 1
            if post > max_post_steps:
                break
            logits = model(x[:, :e], block_length=block_length).logits[0, s:e]
            nfe += 1
            p = F.softmax(logits.to(torch.float64), dim=-1)
            x0 = p.argmax(-1)
            p0 = p.gather(-1, x0[:, None]).squeeze(-1)
            fill = torch.zeros_like(masked)
            if masked.any():
                confidence = torch.where(masked, p0, torch.tensor(-torch.inf, dtype=p.dtype))
                fill = (confidence > threshold) & masked
                if not fill.any():
                    fill[topk_leftmost(confidence, 1)] = True
            edit = ~masked & ~prompt_in_block & (p0 > editing_threshold) & (x0 != old)
            x[0, s:e] = torch.where(fill | edit, x0, old)
            edits += int(edit.sum())
            if not masked.any() and not edit.any():
                break
        generated = x[0, P:e]
        if eos_id is not None and not (generated == mask_id).any() and (generated == eos_id).any():
            break
    return x, nfe, edits


@torch.no_grad()
def fast_dllm_v2_generate(model, prompt, max_new_tokens=8, block_length=4, sub_block_length=2, threshold=0.9,
                          mask_id=151665, stop_id=None, use_block_cache=True):
    """Batch 1, temperature 0: Fast-dLLM v2's `generate` (the hub checkpoint Efficient-Large-Model/Fast_dLLM_v2_7B,
    modeling.py; copied in github Satgoy152/DualDiffusion at commit 189fa7a). `model` is the raw block-causal model
    (output i predicts token i + 1, as the checkpoint's own code returns it), called with the
    `models/block_causal.py` windows in place of the checkpoint's `DynamicCache`s.

    Prefill when P > B: one pass over the prompt's full blocks stores them; when P mod B = 0 its last output's argmax
    is the next token. Then max_new_tokens // B times: stop if a stop id was generated; masks up to the next block
    end; loop: stop when the first stop id after this block's start has no mask before it; when the block has no
    mask, one pass over it stores it and its last output's argmax is appended (the next block's first token), and
    the block ends; else each sub-block of S in order, while it has masks and no stop: a pass, logits shifted by
    `cat(l[:, :1], l[:, :-1])`, x0 = argmax of softmax (in the logits' dtype), p = p(x0) at masks (-inf elsewhere),
    commit p > threshold and the argmax of p. The pass: with `use_block_cache`, over the whole block (its keys and
    values kept as the block cache, reset per block) when there is no block cache or the sub-block's first
    position is masked, else over the sub-block alone reading the prefix and block caches; without it, over the
    whole block. The prefill is not counted; every other pass is (`step_count`). The output is cut after the first
    stop id. Returns (sequence [1, P + n], forward passes)."""
    B, S, P = block_length, sub_block_length, prompt.shape[1]
    x, nfe, cache = prompt.clone(), 0, None

    def cat_cache(first, second):
        return second if first is None else tuple(
            (torch.cat([k, nk], 2), torch.cat([v, nv], 2)) for (k, v), (nk, nv) in zip(first, second))

    def stopped(n):  # a stop id after n with no mask before it
        hits = [] if stop_id is None else (x[0, n:] == stop_id).nonzero()
        return len(hits) > 0 and not (x[0, n:n + int(hits[0])] == mask_id).any()

    if P > B:  # the prefill
        out = model(x[:, :P // B * B], use_cache=True, block_length=B)
        cache = out.past_key_values
        if P % B == 0:
            x = torch.cat([x, out.logits[:, -1:].argmax(-1)], 1)
    for _ in range(max_new_tokens // B):
        if stop_id is not None and (x[0, P:] == stop_id).any():
            break
        n = x.shape[1]
        x = torch.cat([x, torch.full((1, B - n % B), mask_id, dtype=torch.long, device=x.device)], 1)
        a, block_cache = x.shape[1] - B, None
        while True:
            if stopped(n):
                break
            if not (x[0, a:] == mask_id).any():  # store the block; its last output is the next token
                out = model(x[:, a:], past_key_values=cache, window_start=a, use_cache=True, block_length=B)
                nfe += 1
                cache = cat_cache(cache, out.past_key_values)
                x = torch.cat([x, out.logits[:, -1:].argmax(-1)], 1)
                break
            for s in range(a, a + B, S):
                while (x[0, s:s + S] == mask_id).any() and not stopped(n):
                    if use_block_cache and block_cache is not None and x[0, s] != mask_id:
                        past = cat_cache(cache, block_cache)
                        raw = model(x[:, s:s + S], past_key_values=past, window_start=s, block_length=B).logits
                        logits = torch.cat([raw[:, :1], raw[:, :-1]], 1)[0]
                    else:
                        out = model(x[:, a:a + B], past_key_values=cache, window_start=a, use_cache=True,
                                    block_length=B)
                        if use_block_cache:
                            block_cache = out.past_key_values
                        logits = torch.cat([out.logits[:, :1], out.logits[:, :-1]], 1)[0, s - a:s - a + S]
                    nfe += 1
                    p = torch.softmax(logits, dim=-1)
                    x0 = p.argmax(-1)
                    masked = x[0, s:s + S] == mask_id
                    p0 = torch.where(masked, p.gather(-1, x0[:, None]).squeeze(-1), torch.tensor(-torch.inf,
                                                                                                 dtype=p.dtype))
                    take = p0 > threshold
                    take[p0.argmax()] = True
                    x[0, s:s + S] = torch.where(take & masked, x0, x[0, s:s + S])
    hits = (x[0, P:] == stop_id).nonzero() if stop_id is not None else []
    if len(hits):
        x = x[:, :P + int(hits[0]) + 1]
    return x, nfe
