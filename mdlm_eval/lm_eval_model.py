"""The `mdlm` lm-eval model: any LLaDA-family checkpoint (with or without a LoRA adapter) under any decoder.

    lm_eval --model mdlm --model_args pretrained=toy,decoder=eoser_ass,steps=log --tasks mdlm_toy_countdown

Model arguments: pretrained, peft, decoder (preset or YAML), gen_length (else the task's max_gen_toks),
the decoder fields (steps, block_length, sub_block_length, use_block_cache, block_num, temperature, cfg_scale,
remasking, eos_policy, gamma_schedule, eos_min_gamma, eos_max_gamma, commit, threshold, threshold_back,
editing_threshold, max_post_steps, factor, gamma, eps, alg_temp, cache, sampler, top_p, top_k), batch_size (int
or auto), max_batch_size, device, dtype, family, mask_id, trust_remote_code, native (LLaDA and Dream checkpoints: the
native implementation, default true), mc_num, seed, store (a folder: finished samples are kept there and
reused), trace, chat (auto | none). Per-task `generation_kwargs` apply on top of the decoder fields. Model
arguments win over lm-eval's own `--batch_size`, `--max_batch_size` and `--device` options.

Every sample lm-eval saves carries what `mdlm-eval run` records for it (nfe, seconds, gen_length, and the
trace fields with trace=True); the results file names the device the model ran on (`report_results`,
`report_samples`, called by the hook in `_mdlm_eval_hook.py` when lm-eval saves its files).
"""
from __future__ import annotations

import atexit
import hashlib
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass

import lm_eval.models  # noqa: F401  (built-in models first: a registry holding only `mdlm` would hide them)
import torch
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from tqdm import tqdm

from mdlm_eval.block_default import warn_full_diffusion, warn_trained_block
from mdlm_eval.decoding import DecoderSpec, decode
from mdlm_eval.decoding.loop import block_causal_spec
from mdlm_eval.decoding.cache import check_cache
from mdlm_eval.decoding.spec import check_noise
from mdlm_eval.decoding.uniform_canvas import uniform_noise
from mdlm_eval.early_checks import (check_decoder, check_model_arg_names, check_model_noise, check_weights,
                                    resolved_spec)
from mdlm_eval.errors import UsageError
from mdlm_eval.fingerprint import weights_fingerprint
from mdlm_eval.model_files import local_config
from mdlm_eval.models import load_model
from mdlm_eval.parallelism import tokens_through_eos
from mdlm_eval.startup import project_prefills
from mdlm_eval.store import SampleStore, sample_key
from mdlm_eval.training.objectives import masked_ce_over_p

log = logging.getLogger(__name__)
DECODER_FIELDS = ("steps", "block_length", "sub_block_length", "use_block_cache", "block_num", "temperature",
                  "cfg_scale", "remasking", "eos_policy", "gamma_schedule", "eos_min_gamma", "eos_max_gamma",
                  "commit", "threshold", "threshold_back", "editing_threshold", "max_post_steps", "factor", "gamma",
                  "eps", "alg_temp", "cache", "sampler", "top_p", "top_k", "t_min", "t_max", "stability_threshold",
                  "confidence_threshold")
DEFAULT_GEN_LENGTH = 256


def sample_seed(seed: int, *parts: object) -> int:
    """The noise seed of one sample: a hash of the seed and what identifies the sample (task and document, or
    context and continuation), independent of batch, order and process."""
    digest = hashlib.sha256("/".join(map(str, (seed, *parts))).encode()).hexdigest()
    return int(digest[:15], 16)


def init_distributed(device: str | None) -> tuple[int, int, str | None]:
    """(rank, world size, device) under torchrun / accelerate launch (WORLD_SIZE > 1), else (0, 1, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    import torch.distributed as dist

    use_cuda = torch.cuda.is_available() and device != "cpu"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
        # torn down before interpreter exit: a process group left to static destructors can abort a rank
        atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())
    if use_cuda:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return dist.get_rank(), dist.get_world_size(), device


def finish_distributed() -> None:
    """End a data-parallel run that went well: wait until every rank is here (rank 0 has written its results), then
    tear the process group down on all ranks at once. A no-op outside torchrun / accelerate launch."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


@dataclass
class Request:
    """One generation request after prompt formatting and settings resolution."""

    prompt: str
    spec: DecoderSpec
    gen_length: int
    until: list[str]
    skip_special_tokens: bool
    seed: int
    key: str
    task: str | None
    doc_id: int | None
    repeat: int = 0


# What this process's `mdlm` models did, kept here because lm-eval drops the model before it saves its files:
FINISHED: dict[tuple, list[dict]] = {}  # (task, doc_id) -> the sample's records, from the latest generate_until
DEVICES: set[str] = set()  # the devices the models ran on
RECORD_ONLY = ("key", "task", "doc_id", "text")  # store fields that are not per-sample statistics


def sample_fields(records: list[dict]) -> dict:
    """What a saved sample row gains from its decoded records: each field of the one record, or with several
    (lm-eval `repeats`) a list per field in request order."""
    fields = [{k: v for k, v in r.items() if k not in RECORD_ONLY} for r in records]
    if len(fields) == 1:
        return fields[0]
    return {k: [f.get(k) for f in fields] for k in dict.fromkeys(k for f in fields for k in f)}


def report_samples(samples: dict[str, list[dict]]) -> None:
    """Add each sample's statistics (nfe, seconds, ...) to lm-eval's sample rows {task: [row]}, in place."""
    for task, rows in samples.items():
        for row in rows:
            records = FINISHED.get((task, row.get("doc_id")))
            if records and "nfe" not in row:
                row.update(sample_fields(records))


def report_results(results: dict) -> None:
    """The device an `mdlm` run really used, in place of the `--device` lm-eval was given (default cuda:0)."""
    config = results.get("config", {})
    devices = sorted(DEVICES)
    if config.get("model") == "mdlm" and devices:
        config["device"] = devices[0] if len(devices) == 1 else devices


@register_model("mdlm")
class MDLMLM(LM):
    def __init__(self, pretrained: str = "toy", peft: str | None = None, decoder: str = "eoser_ass",
                 gen_length: int | None = None, batch_size: int | str = 8, max_batch_size: int | None = 64,
                 device: str | None = None, dtype: str | None = None, family: str | None = None,
                 mask_id: int | None = None, trust_remote_code: bool | None = None, mc_num: int = 128,
                 seed: int = 0, store: str | None = None, trace: bool = False, chat: str = "auto",
                 native: bool | str = True, **decoder_fields):
        super().__init__()
        check_model_arg_names(decoder_fields)
        self.gen_length = int(gen_length) if gen_length else None
        self.spec = resolved_spec(decoder, decoder_fields, pretrained, self.gen_length)
        if canvas := self.gen_length or local_config(pretrained).get("gen_length"):
            warn_full_diffusion(decoder, self.spec.block_length, int(canvas))
        warn_trained_block(pretrained, self.spec.block_length)
        check_model_noise(self.spec, pretrained)  # a mask decoder on a model without a mask token (DiffusionGemma)
        check_decoder(self.spec, self.gen_length)  # an impossible budget, a missing folder: before loading anything
        check_weights(pretrained, peft, str(native).lower() not in ("false", "0"))
        if chat not in ("auto", "none"):
            raise UsageError(f"chat must be auto or none, got {chat}")
        self.auto_batch = str(batch_size).startswith("auto")
        self.batch_size = int(max_batch_size or 64) if self.auto_batch else int(batch_size)
        if self.batch_size < 1:
            raise UsageError(f"batch_size must be >= 1 or auto, got {batch_size}")
        if device == "cuda:0" and not torch.cuda.is_available():
            log.warning("no CUDA GPU: running on the CPU (lm-eval's default device is cuda:0)")
            device = "cpu"
        self._rank, self._world_size, device = init_distributed(device)
        self.lm = load_model(pretrained, peft=peft, dtype=dtype, device=device, family=family, mask_id=mask_id,
                             trust_remote_code=trust_remote_code, native=str(native).lower() not in ("false", "0"))
        check_cache(self.spec, self.lm.model, None)  # a cache the model cannot take: one line, before decoding
        if getattr(self.lm.model, "block_causal", False):  # the spec as it runs: the model's blocks filled in
            self.spec = block_causal_spec(self.spec, self.lm.model)
        check_noise(self.spec, uniform_noise(self.lm.model), self.lm.family.name)  # a hub id's model type
        self._device = self.lm.device
        self.tokenizer = self.lm.tokenizer
        self.mc_num, self.seed, self.trace, self.chat = int(mc_num), int(seed), bool(trace), chat
        self.store = SampleStore(store, self._rank) if store else None
        self.weights = {"model": weights_fingerprint(pretrained), "peft": weights_fingerprint(peft) if peft else None}
        DEVICES.add(str(self._device))
        self.templated = False  # set when lm-eval renders prompts through our chat template
        self.batch_sizes: dict[str, int] = {}  # the batch size each request type ran at (lm-eval records it)
        self.total_nfe = 0

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None) -> "MDLMLM":
        from lm_eval.utils import simple_parse_args_string

        return cls.create_from_arg_obj(simple_parse_args_string(arg_string), additional_config)

    @classmethod
    def create_from_arg_obj(cls, arg_dict: dict, additional_config: dict | None = None) -> "MDLMLM":
        """`--model_args` first; lm-eval's `--batch_size`/`--max_batch_size`/`--device` fill only what they lack."""
        extra = {k: v for k, v in (additional_config or {}).items() if v is not None and k not in arg_dict}
        return cls(**arg_dict, **extra)

    def get_model_info(self) -> dict:
        """Added by lm-eval to the results file's `config`: the resolved decoder and the model's token ids."""
        return {"decoder_spec": self.spec.to_dict(), "gen_length": self.gen_length, "mask_id": self.lm.ids.mask_id,
                "eos_id": self.lm.ids.eos_id, "family": self.lm.family.name, "architecture": self.lm.architecture,
                "dtype": str(self.lm.dtype),
                "attention": getattr(getattr(self.lm.model, "config", None), "_attn_implementation", None) or "sdpa"}

    # ---- chat templates (lm-eval calls these when run with --apply_chat_template) ----
    @property
    def tokenizer_name(self) -> str:
        return self.tokenizer.name_or_path.replace("/", "__")

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        self.templated = True
        return self.tokenizer.chat_template

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        self.templated = True
        return self.tokenizer.apply_chat_template(chat_history, tokenize=False,
                                                  add_generation_prompt=add_generation_prompt,
                                                  continue_final_message=not add_generation_prompt)

    def format_prompt(self, context: str, task: str | None = None) -> str:
        """A context lm-eval did not template becomes one user turn (chat=auto), as the model was tuned. A project
        task's prefill (`gen_prefix`, which lm-eval appends to an untemplated context) goes after the generation
        prompt, so the prompt is the same with or without --apply_chat_template (the d1 prompt)."""
        if self.templated or self.chat == "none" or not self.tokenizer.chat_template:
            return context
        prefill = project_prefills().get(task or "", "")
        if not prefill or not context.endswith(prefill):
            prefill = ""
        user = context[: len(context) - len(prefill)]
        return self.tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                                  add_generation_prompt=True) + prefill

    # ---- generation ----
    def resolve(self, instance, repeat: int = 0) -> Request:
        """A request's prompt, settings, seed and store key. Repeat r > 0 of a request (lm-eval `repeats`) adds r
        to the seed's and key's parts; repeat 0 keeps those of a task without repeats."""
        context, gen_kwargs = instance.args
        gen_kwargs = dict(gen_kwargs or {})
        until = gen_kwargs.pop("until", None) or []
        until = [until] if isinstance(until, str) else list(until)
        gen_length = self.gen_length or int(gen_kwargs.pop("max_gen_toks", None) or self.lm.default_gen_length
                                            or DEFAULT_GEN_LENGTH)
        skip_special = bool(gen_kwargs.pop("skip_special_tokens", True))
        spec = self.spec.with_overrides(**{k: v for k, v in gen_kwargs.items() if k in DECODER_FIELDS})
        task, doc_id = getattr(instance, "task_name", None), getattr(instance, "doc_id", None)
        prompt = self.format_prompt(context, task)
        key = sample_key(model=self.lm.name, peft=self.lm.peft, weights=self.weights, dtype=str(self.lm.dtype),
                         decoder=spec.to_dict(),
                         gen_length=gen_length, seed=self.seed, task=task, doc_id=doc_id, prompt=prompt,
                         until=until, skip_special_tokens=skip_special, trace=self.trace,
                         **({"repeat": repeat} if repeat else {}))
        return Request(prompt, spec, gen_length, until, skip_special,
                       sample_seed(self.seed, task, doc_id, *([repeat] if repeat else [])), key, task, doc_id, repeat)

    def resolve_all(self, requests) -> list[Request]:
        """Resolve a request list in which lm-eval repeats each request K = `repeats` times (the same Instance
        object K times in a row). The n-th copy is repeat n mod K: numbered within the request list, so the same
        at any batch size and on resume; a document's copies stay on its rank; the padding copies lm-eval adds to
        even out ranks reuse repeats already decoded."""
        copies: Counter = Counter()
        items = []
        for instance in requests:
            ident = (getattr(instance, "task_name", None), getattr(instance, "doc_id", None),
                     getattr(instance, "idx", None), repr(instance.args))
            items.append(self.resolve(instance, repeat=copies[ident] % max(1, getattr(instance, "repeats", 1) or 1)))
            copies[ident] += 1
        return items

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        items = self.resolve_all(requests)
        done: dict[str, dict] = {}
        if self.store is not None:
            done = {it.key: rec for it in items if (rec := self.store.get(it.key)) is not None}
        pending = list({it.key: it for it in items if it.key not in done}.values())
        if self.store is not None and self._rank == 0:
            reused = sum(it.key in done for it in items)
            print(f"reused {reused} of {len(items)} finished samples", file=sys.stderr)
        if self.auto_batch and self._rank == 0:
            print(f"batch size auto: {self.batch_size} (max_batch_size; halved on out-of-memory)", file=sys.stderr)
        bar = tqdm(total=len(pending), unit="sample", desc="decoding", disable=disable_tqdm or self._rank != 0)
        try:  # the bar is closed before anything else is printed, also on Ctrl-C
            for chunk in self.batches(pending):
                records = self.generate_batch(chunk)
                if self.store is not None:
                    self.store.put_many(records)
                done.update({r["key"]: r for r in records})
                bar.update(len(chunk))
                bar.set_postfix(nfe=self.total_nfe)
        finally:
            bar.close()
        self.batch_sizes["generate_until"] = self.batch_size
        finished: dict[tuple, list[dict]] = {}
        for it in items:
            finished.setdefault((it.task, it.doc_id), []).append(done[it.key])
        FINISHED.update(finished)
        return [done[it.key]["text"] for it in items]

    def batches(self, pending: list[Request]):
        """Batches of requests with the same settings, longest prompts first, of the current batch size."""
        groups: dict[tuple, list[Request]] = {}
        for it in sorted(pending, key=lambda it: -len(it.prompt)):
            groups.setdefault((it.spec, it.gen_length), []).append(it)
        for group in groups.values():
            start = 0
            while start < len(group):
                chunk = group[start : start + self.batch_size]
                start += len(chunk)
                yield chunk

    def generate_batch(self, chunk: list[Request]) -> list[dict]:
        """Decode one batch; with batch_size=auto, halve the batch on out-of-memory and go on."""
        try:
            return self._decode(chunk)
        except torch.cuda.OutOfMemoryError:
            if not self.auto_batch or len(chunk) == 1:
                raise
            torch.cuda.empty_cache()
            self.batch_size = max(1, len(chunk) // 2)
            if self._rank == 0:
                print(f"batch size auto: out of memory at {len(chunk)}, now {self.batch_size}", file=sys.stderr)
            half = len(chunk) // 2
            return self.generate_batch(chunk[:half]) + self.generate_batch(chunk[half:])

    def _decode(self, chunk: list[Request]) -> list[dict]:
        enc = self.tokenizer([it.prompt for it in chunk], add_special_tokens=False, padding=True,
                             return_tensors="pt")
        ids, mask = enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)
        spec, gen_length = chunk[0].spec, chunk[0].gen_length
        start = time.perf_counter()
        out = decode(self.lm.model, ids, spec, gen_length=gen_length, mask_id=self.lm.ids.mask_id,
                     eos_token_ids=(self.lm.ids.stop_ids() if self.lm.family.mask_free  # a canvas stops at either
                                    else self.lm.ids.eos_ids_for(spec.eos_policy)), attention_mask=mask,
                     seeds=[it.seed for it in chunk], trace=self.trace)
        seconds = (time.perf_counter() - start) / len(chunk)
        self.total_nfe += out.nfe
        generated = out.sequences[:, ids.shape[1]:].cpu()
        stop_ids = torch.tensor(self.lm.ids.stop_ids())
        through_eos = tokens_through_eos(generated, stop_ids.tolist())  # per row, for tokens per forward
        if self.trace:  # EOS-trap statistic: share of EOS/EOT among tokens unmasked in the first quarter of steps
            early_eos = out.trace.early_eos_share(generated, stop_ids.tolist()).tolist()
        records = []
        for row, it in enumerate(chunk):
            record = {"key": it.key, "task": it.task, "doc_id": it.doc_id, "repeat": it.repeat,
                      "text": self.to_text(generated[row], it.until, it.skip_special_tokens),
                      "nfe": out.nfe_per_row[row], "gen_length": gen_length, "seconds": seconds,
                      "prompt_tokens": int(mask[row].sum()), "tokens_to_eos": through_eos[row],
                      "tpf": through_eos[row] / out.nfe_per_row[row]}
            if out.store_passes_per_row is not None:
                record["store_passes"] = out.store_passes_per_row[row]
            if self.trace:
                record["trace_step"] = out.trace.step[row].tolist()
                record["trace_eos"] = torch.isin(generated[row], stop_ids).int().tolist()
                record["early_eos_share"] = early_eos[row]
            records.append(record)
        return records

    def to_text(self, tokens: torch.Tensor, until: list[str], skip_special_tokens: bool) -> str:
        """The completion text. With special tokens kept (the d1 tasks), the whole canvas as d1 scores it;
        otherwise the text up to the first EOS/EOT. Then cut at the first stop string."""
        if skip_special_tokens:
            stops = torch.isin(tokens, torch.tensor(self.lm.ids.stop_ids())).nonzero()
            if len(stops):
                tokens = tokens[: stops[0, 0]]
        text = self.tokenizer.decode(tokens, skip_special_tokens=skip_special_tokens)
        for stop in until:
            if stop:
                text = text.split(stop)[0]
        return text

    # ---- likelihoods ----
    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """LLaDA's Monte Carlo estimate of log p(continuation | context) (eval_llada.py): `mc_num` draws, each
        masking k of the T continuation tokens with k stratified across a batch of draws; the context is
        never masked; the estimate is -mean over draws of sum(CE of masked tokens) / (k / T)."""
        if self.lm.ids.mask_id is None:
            raise UsageError(f"model family {self.lm.family.name} has no mask token, so mdlm has no Monte Carlo "
                             f"log-likelihood for it; use generation tasks")
        results = []
        for req in tqdm(requests, desc="loglikelihood", disable=disable_tqdm or self._rank != 0):
            context, continuation = req.args
            ctx, cont = self.encode_pair(context, continuation)
            gen = torch.Generator().manual_seed(sample_seed(self.seed, context, continuation))
            results.append((self.mc_loglikelihood(ctx, cont, gen), False))
        return results

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        spaces = len(context) - len(context.rstrip())
        if spaces:  # move trailing spaces of the context onto the continuation (lm-eval convention)
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        prompt = self.format_prompt(context)
        whole = self.tokenizer(prompt + continuation, add_special_tokens=False)["input_ids"]
        ctx = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        return ctx, whole[len(ctx):]

    @torch.no_grad()
    def mc_loglikelihood(self, ctx: list[int], cont: list[int], gen: torch.Generator) -> float:
        T = len(cont)
        if T == 0:
            return 0.0
        draws = min(self.batch_size, self.mc_num)
        seq = torch.tensor(ctx + cont).repeat(draws, 1)
        losses = []
        for _ in range(max(1, self.mc_num // draws)):
            k = int(torch.randint(1, T + 1, (), generator=gen))
            counts = torch.round(torch.linspace(float(k), k + (draws - 1) * (T / draws), draws)).long()
            counts = ((counts - 1) % T) + 1
            order = torch.stack([torch.randperm(T, generator=gen) for _ in range(draws)])
            is_mask = torch.cat([torch.zeros(draws, len(ctx), dtype=torch.bool), order < counts[:, None]], dim=1)
            noisy = torch.where(is_mask, self.lm.ids.mask_id, seq).to(self.device)
            logits = self.lm.model(noisy).logits.float()
            p_mask = (counts.float() / T)[:, None].expand_as(is_mask).to(self.device)
            is_mask = is_mask.to(self.device)
            ce = masked_ce_over_p(logits, seq.to(self.device), is_mask, p_mask)
            losses.append(ce.sum().item() / draws)
        return -sum(losses) / len(losses)

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise UsageError("mdlm does not score rolling log-likelihoods (perplexity tasks): a masked diffusion "
                         "model gives only a Monte Carlo bound per continuation; use generation or "
                         "multiple-choice tasks")

    # ---- data parallel (torchrun / accelerate launch) ----
    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        if self._world_size == 1:
            return tensor
        import torch.distributed as dist

        parts = [torch.zeros_like(tensor) for _ in range(self._world_size)]
        dist.all_gather(parts, tensor)
        return torch.stack(parts) if tensor.dim() == 0 else torch.cat(parts)

    def gather_object(self, obj, dst: int = 0):
        if self._world_size == 1:
            return [obj]
        import torch.distributed as dist

        if isinstance(obj, dict) and all(isinstance(v, list) for v in obj.values()):
            report_samples(obj)  # lm-eval gathers each rank's sample rows: add this rank's statistics first
        out = [None] * self._world_size if self._rank == dst else None
        dist.gather_object(obj, out, dst=dst)
        return out

    def barrier(self) -> None:
        if self._world_size > 1:
            import torch.distributed as dist

            dist.barrier()
