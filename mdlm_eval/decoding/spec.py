"""`DecoderSpec`: what a decoder is made of, and the preset YAML files in `decoders/` that name one."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Union

from mdlm_eval.errors import UsageError
from mdlm_eval.paths import PRESETS_DIR  # the checkout's decoders/, or the copy a wheel ships
from mdlm_eval.yaml_file import read_mapping

SAMPLERS = ("llada", "dream")  # how x0 is drawn (`mdlm_eval.decoding.sampling`)
SCHEDULES = ("uniform", "ascending")
COMMITS = ("count", "threshold", "factor", "eb", "dream", "dream_origin", "wino", "dynamic", "edit", "fast_dllm_v2",
           "renoise")
# the number of forward passes is decided while decoding
ADAPTIVE_COMMITS = ("threshold", "factor", "eb", "wino", "edit", "fast_dllm_v2", "renoise")
RULE_FIELDS = {  # the spec fields only some commit rules read
    "threshold": ("threshold", "wino", "dynamic", "edit", "fast_dllm_v2"), "threshold_back": ("wino",),
    "factor": ("factor",), "gamma": ("eb", "renoise"), "eps": ("dream", "dream_origin"),
    "alg_temp": ("dream", "dream_origin"), "editing_threshold": ("edit",), "max_post_steps": ("edit",),
    "sub_block_length": ("fast_dllm_v2",), "use_block_cache": ("fast_dllm_v2",),
    "t_min": ("renoise",), "t_max": ("renoise",), "stability_threshold": ("renoise",),
    "confidence_threshold": ("renoise",),
}
REMASKINGS = ("low_confidence", "random", "margin", "entropy")
EOS_POLICIES = ("none", "logits_eos_inf", "confidence_eos_eot_inf", "eoser")
GAMMA_SCHEDULES = ("linear", "power")
CACHES = ("none", "prefix", "dual")  # block caches (Fast-dLLM), `decoding/cache.py`
# rules that bring their own forward pass (`CommitRule.make_forward`): no cache
OWN_FORWARD_COMMITS = ("wino", "fast_dllm_v2")
STEP_WORDS = ("log", "half", "full")
UNIFORM_NOISE_MODEL_TYPES = ("diffusion_gemma",)  # config.json model_type of models without a mask token

Steps = Union[int, str]


@dataclass(frozen=True)
class DecoderSpec:
    """The parts of one decoder. Field names follow the reference implementations' keyword arguments.

    commit          which candidates take x0 each step (`commit.py`): count (k from `schedule`) | threshold |
                    factor (Fast-dLLM) | eb (EB-sampler) | dream | dream_origin (Dream's time grid) |
                    wino (WINO: wide-in, narrow-out re-masking) | dynamic (SDAR `low_confidence_dynamic`,
                    LLaDA2 `generate`: confidence > threshold if at least k such, else the top k; k as count's) |
                    edit (LLaDA2.1 token editing: dynamic with k = 1, and committed tokens re-written) |
                    fast_dllm_v2 (Fast-dLLM v2 `generate`: in sub-blocks, confidence > threshold and always the
                    best; a block's first token from the pass that stores the block before it) |
                    renoise (models without a mask token, DiffusionGemma: the canvas starts from uniform random
                    tokens, entropy-bound acceptance, the rest re-noised; `decoding/uniform_canvas.py`)
    schedule        count: uniform (LLaDA blocks, equal counts per step) | ascending (ASS: 1, 2, 4, ... tokens)
    steps           forward passes for the whole canvas: an int, or log (floor(log2 L); an ascending schedule in
                    blocks of B: floor(log2 B) per block), half (L/2), full (L);
                    for adaptive rules an optional cap (None: no cap), spread over the blocks; renoise: the most
                    denoising passes per model canvas (transformers' `max_denoising_steps`; words read against the
                    canvas length)
    block_length    tokens per semi-autoregressive block, None = one block (full diffusion); ascending: None =
                    ASS over the whole canvas, B = ASS inside each block of B (a block-causal model's blocks)
    sub_block_length  fast_dllm_v2: tokens per sub-block inside each block (None: the whole block); it divides
                    block_length, which stays the model's attention block
    use_block_cache fast_dllm_v2: a sub-block's passes read the rest of its block from the last whole-block pass
                    (Fast-dLLM v2's `use_block_cache=True`); false: every pass runs over the whole block
    block_num       ascending over the whole canvas: number of right-anchored blocks
    remasking       ranking of masked positions: low_confidence | random | margin | entropy
    eos_policy      none | logits_eos_inf | confidence_eos_eot_inf | eoser
    gamma_schedule  eoser: linear (eoser_generate) | power (eoser_ass_generate)
    threshold       threshold: commit confidence >= tau; wino: wide-in tau (commit confidence > tau); dynamic:
                    commit confidence > tau when at least k candidates pass
    editing_threshold  edit: a committed token whose x0 differs takes x0 when p(x0) > this
    max_post_steps  edit: the most passes a row makes in a block after its masks are gone
    threshold_back  wino: narrow-out tau (re-mask committed tokens whose confidence < tau)
    factor          factor: f in c_(n) >= 1 - f / (n + 1)
    gamma           eb, renoise: bound on sum(H) - max(H) over the committed set (renoise: DiffusionGemma's
                    `entropy_bound`)
    eps             dream: the last time of the grid linspace(1, eps, steps + 1)
    alg_temp        dream: 0 = the top-k positions; > 0 = positions drawn from softmax(score / alg_temp)
    cache           none | prefix (the prompt and finished blocks cached) | dual (the masked suffix too): Fast-dLLM
                    block caches, refreshed at each block's first step (`cache.py`)
    sampler         how x0 is drawn and what the ranking scores (`sampling.py`): llada (Gumbel-max at temperature,
                    ranked on the raw logits) | dream (Dream `sample_tokens`: ranked on the tempered, truncated p)
    top_p           None = off; keep the smallest set of most likely tokens whose mass reaches p (Dream top_p_logits)
    top_k           None = off; keep the k most likely tokens (Dream top_k_logits). Both truncate softmax(l / T)
                    before x0 is drawn; at temperature 0 they change nothing under llada and only the confidence
                    (not x0) under dream
    t_min, t_max    renoise: the temperature at pass n of N (n counting the passes left, N..1) is t_min + (t_max -
                    t_min) * n / N (DiffusionGemma `LinearTemperatureScheduleLogitsProcessor`)
    stability_threshold, confidence_threshold
                    renoise: a canvas stops once its argmax has not changed over that many passes and the mean
                    token entropy of the tempered logits is below the threshold (`StableAndConfidentStoppingCriteria`)
    """

    name: str = "custom"
    description: str = ""
    commit: str = "count"
    schedule: str = "uniform"
    steps: Steps | None = "half"
    block_length: int | None = None
    sub_block_length: int | None = None
    use_block_cache: bool = True
    block_num: int = 1
    remasking: str = "low_confidence"
    eos_policy: str = "none"
    gamma_schedule: str = "linear"
    eos_min_gamma: float = 0.4
    eos_max_gamma: float = 1.0
    temperature: float = 0.0
    cfg_scale: float = 0.0
    threshold: float = 0.9
    threshold_back: float = 0.9
    editing_threshold: float = 0.9
    max_post_steps: int = 16
    factor: float = 1.0
    gamma: float = 0.01
    eps: float = 1e-3
    alg_temp: float = 0.0
    cache: str = "none"
    sampler: str = "llada"
    top_p: float | None = None
    top_k: int | None = None
    t_min: float = 0.4
    t_max: float = 0.8
    stability_threshold: int = 1
    confidence_threshold: float = 0.005

    @property
    def adaptive(self) -> bool:
        """True when the number of forward passes is decided while decoding (`steps` is only a cap)."""
        return self.commit in ADAPTIVE_COMMITS

    def __post_init__(self) -> None:
        for field, cast in _NUMERIC.items():
            value = getattr(self, field)
            if field in OPTIONAL and value in (None, "none", "null"):
                value = None  # block_length: one block (full diffusion); top_p, top_k: off
            else:
                try:
                    value = cast(value)
                    if not math.isfinite(value):
                        raise ValueError
                except (TypeError, ValueError, OverflowError):
                    raise UsageError(f"{field} must be a finite number, got {value!r}") from None
            object.__setattr__(self, field, value)
        if self.block_length is not None and self.block_length < 1:
            raise UsageError(f"block_length must be >= 1, got {self.block_length}")
        flag = str(self.use_block_cache).lower()
        if flag not in ("true", "false"):
            raise UsageError(f"use_block_cache must be true or false, got {self.use_block_cache!r}")
        object.__setattr__(self, "use_block_cache", flag == "true")
        if not self.use_block_cache and self.commit != "fast_dllm_v2":
            raise UsageError(f"use_block_cache is read by commit fast_dllm_v2 only, not by commit {self.commit}")
        if self.sub_block_length is not None:
            if self.commit != "fast_dllm_v2":
                raise UsageError(f"sub_block_length is read by commit fast_dllm_v2 only, not by commit {self.commit}")
            if self.sub_block_length < 1:
                raise UsageError(f"sub_block_length must be >= 1, got {self.sub_block_length}")
            if self.block_length is not None and self.block_length % self.sub_block_length:
                raise UsageError(f"sub_block_length {self.sub_block_length} does not divide block_length "
                                 f"{self.block_length}")
        if self.block_num < 1:
            raise UsageError(f"block_num must be >= 1, got {self.block_num}")
        for field, allowed in (
            ("commit", COMMITS),
            ("schedule", SCHEDULES),
            ("remasking", REMASKINGS),
            ("eos_policy", EOS_POLICIES),
            ("gamma_schedule", GAMMA_SCHEDULES),
            ("cache", CACHES),
            ("sampler", SAMPLERS),
        ):
            if getattr(self, field) not in allowed:
                raise UsageError(f"{field} '{getattr(self, field)}' is unknown; choose one of {', '.join(allowed)}")
        if self.steps is None:
            if not self.adaptive:
                raise UsageError(f"commit rule {self.commit} needs steps (an integer or {', '.join(STEP_WORDS)})")
        elif self.steps not in STEP_WORDS:
            try:
                object.__setattr__(self, "steps", int(self.steps))
            except (TypeError, ValueError, OverflowError):
                raise UsageError(f"steps '{self.steps}' must be an integer or one of {', '.join(STEP_WORDS)}") from None
        if self.commit == "fast_dllm_v2" and self.steps is not None:
            raise UsageError(f"commit fast_dllm_v2 decodes each sub-block until it has no mask (Fast-dLLM v2's "
                             f"generate); steps must be null, got {self.steps}")
        if self.temperature < 0:
            raise UsageError(f"temperature must be >= 0, got {self.temperature}")
        if self.cfg_scale < 0:
            raise UsageError(f"cfg_scale must be >= 0, got {self.cfg_scale}")
        if not 0 < self.threshold <= 1 or not 0 < self.threshold_back <= 1:
            raise UsageError(f"threshold must be in (0, 1], got {self.threshold} (threshold_back {self.threshold_back})")
        if not 0 <= self.editing_threshold <= 1:
            raise UsageError(f"editing_threshold must be in [0, 1], got {self.editing_threshold}")
        if self.max_post_steps < 0:
            raise UsageError(f"max_post_steps must be >= 0, got {self.max_post_steps}")
        if self.factor <= 0:
            raise UsageError(f"factor must be > 0, got {self.factor}")
        if self.gamma < 0:
            raise UsageError(f"gamma must be >= 0, got {self.gamma}")
        if not 0 < self.eps < 1:
            raise UsageError(f"eps must be in (0, 1), got {self.eps}")
        if self.alg_temp < 0:
            raise UsageError(f"alg_temp must be >= 0, got {self.alg_temp}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise UsageError(f"top_p must be in (0, 1] (or none), got {self.top_p}")
        if self.top_k is not None and self.top_k < 1:
            raise UsageError(f"top_k must be >= 1 (or none), got {self.top_k}")
        if self.schedule == "ascending" and self.block_length is not None and self.block_num != 1:
            raise UsageError(f"block_num {self.block_num} lays ascending steps over the whole canvas; with "
                             f"block_length {self.block_length} they run inside each block (drop one of them)")
        if not 0 <= self.t_min < self.t_max:
            raise UsageError(f"need 0 <= t_min < t_max, got {self.t_min} and {self.t_max}")
        if self.stability_threshold < 0:
            raise UsageError(f"stability_threshold must be >= 0, got {self.stability_threshold}")
        if self.confidence_threshold <= 0:
            raise UsageError(f"confidence_threshold must be > 0, got {self.confidence_threshold}")
        if self.commit == "renoise" and (self.gamma <= 0 or self.steps is None):
            raise UsageError(f"commit renoise needs gamma > 0 (the entropy bound) and steps (the most passes per "
                             f"canvas), got gamma {self.gamma} and steps {self.steps}")
        if self.commit != "count" and self.schedule != "uniform":
            raise UsageError(f"schedule {self.schedule} belongs to the count rule, not to commit {self.commit}")
        if self.cache != "none" and self.cfg_scale > 0:
            raise UsageError(f"cache={self.cache} does not combine with classifier-free guidance (cfg_scale "
                             f"{self.cfg_scale:g}); use cache=none or cfg_scale=0")
        if self.cache != "none" and self.commit in OWN_FORWARD_COMMITS:
            raise UsageError(f"commit {self.commit} runs its own forward pass, which takes no cache; use cache=none")
        if not 0 <= self.eos_min_gamma <= self.eos_max_gamma:
            raise UsageError(
                f"need 0 <= eos_min_gamma <= eos_max_gamma, got {self.eos_min_gamma} and {self.eos_max_gamma}"
            )

    def with_overrides(self, **overrides: Any) -> "DecoderSpec":
        """A copy with some fields replaced; None values are ignored, unknown names are an error."""

        overrides = {k: v for k, v in overrides.items() if v is not None}
        check_fields(overrides, where="decoder override")
        return dataclasses.replace(self, **overrides) if overrides else self

    def resolve_steps(self, gen_length: int) -> int | None:
        """The number of forward passes for a canvas of `gen_length` tokens (adaptive rules: the cap or None)."""
        if self.steps is None:
            return None
        log = gen_length.bit_length() - 1
        if self.schedule == "ascending" and self.block_length and gen_length % self.block_length == 0:
            log = gen_length // self.block_length * (self.block_length.bit_length() - 1)  # floor(log2 B) per block
        words = {"log": log, "half": gen_length // 2, "full": gen_length}
        steps = words.get(self.steps, self.steps) if isinstance(self.steps, str) else self.steps
        if self.adaptive:
            if steps < 1:
                raise UsageError(f"steps (the cap of an adaptive rule) must be >= 1, got {self.describe_steps(steps)}")
            return steps  # a cap: re-masking rules may use more passes than tokens
        if not 1 <= steps <= gen_length:
            raise UsageError(f"steps must be between 1 and gen_length ({gen_length}), got {self.describe_steps(steps)}")
        return steps

    def describe_steps(self, steps: int) -> str:
        """`0`, or `16 (half)` for a step word."""
        return f"{steps} ({self.steps})" if isinstance(self.steps, str) else str(steps)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_NUMERIC = {
    "block_length": int,
    "sub_block_length": int,
    "block_num": int,
    "eos_min_gamma": float,
    "eos_max_gamma": float,
    "temperature": float,
    "cfg_scale": float,
    "threshold": float,
    "threshold_back": float,
    "editing_threshold": float,
    "max_post_steps": int,
    "factor": float,
    "gamma": float,
    "eps": float,
    "alg_temp": float,
    "top_p": float,
    "top_k": int,
    "t_min": float,
    "t_max": float,
    "stability_threshold": int,
    "confidence_threshold": float,
}
OPTIONAL = ("block_length", "sub_block_length", "top_p", "top_k")  # None (or "none") is a value
FIELD_NAMES = tuple(f.name for f in fields(DecoderSpec))


def check_fields(values: dict[str, Any], where: str) -> None:
    unknown = sorted(str(k) for k in set(values) - set(FIELD_NAMES))
    if unknown:
        raise UsageError(f"unknown field {', '.join(unknown)} in {where}; valid fields: {', '.join(FIELD_NAMES)}")


def check_noise(spec: DecoderSpec, uniform_noise: bool, model: str) -> None:
    """The decoder against the model's noise, in one line: a mask decoder on a model without a mask token
    (DiffusionGemma: its canvas starts from uniform random tokens), or `renoise` on a mask model."""
    if uniform_noise and spec.commit != "renoise":
        raise UsageError(f"decoder {spec.name} (commit {spec.commit}) needs a mask token; {model} has none (its "
                         f"canvas starts from uniform random tokens): use --decoder diffusion_gemma")
    if not uniform_noise and spec.commit == "renoise":
        raise UsageError(f"decoder {spec.name} (commit renoise) is for models without a mask token "
                         f"(DiffusionGemma); {model} has a mask token: use a mask decoder")


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_spec(decoder: "str | Path | DecoderSpec") -> DecoderSpec:
    """A preset name (`decoders/<name>.yaml`), a path to a preset YAML, or a spec (returned as is)."""
    if isinstance(decoder, DecoderSpec):
        return decoder
    path = Path(decoder)
    if path.suffix not in (".yaml", ".yml"):
        path = PRESETS_DIR / f"{decoder}.yaml"
        if not path.is_file():
            raise UsageError(f"unknown decoder '{decoder}'; presets: {', '.join(preset_names())}, or a path to a YAML")
    elif not path.is_file():
        raise UsageError(f"decoder file {path} does not exist")
    values = read_mapping(path, f"decoder file {path}", "hold a mapping of field: value")
    check_fields(values, where=str(path))
    values.setdefault("name", path.stem)
    try:
        return DecoderSpec(**values)
    except TypeError as e:
        raise UsageError(f"decoder file {path}: {e}") from None
