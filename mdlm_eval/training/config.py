"""`GRPOConfig`: every hyperparameter of a GRPO run, read from and written to YAML.

Defaults are the paper's (EOSER-ASS-RL `cj-grpo/slurm_scripts/train.yaml`, d1's `diffu-grpo` alike): lr 3e-6
constant after a warm-up of 0.01% of the steps, AdamW (0.9, 0.99), weight decay 0.1, gradient norm 0.2,
6 generations per prompt, 6 samples per process x 2 accumulation, PPO clip 0.5, KL beta 0.04, LoRA r 128 / alpha 64 /
dropout 0.05, inner iterations 8 (planning) or 12 (math).
- No reference sync: both references set `sync_ref_model: True`, but under PEFT TRL keeps no separate reference
  model (the reference is the base with the adapter disabled) and its sync callback has nothing to sync, so the
  KL anchor is the base model for the whole run. `sync_ref_every` > 0 turns TRL's TR-DPO sync on here.
- Rollouts per method: CJ-GRPO EOSER+ASS at log2 L, temperature 1.0 (its train.yaml); diffu-GRPO d1's semi-AR,
  L/2 steps in blocks (d1's train.yaml: block_length 32, diffusion_steps 128 of 256), temperature 0.9 (d1's
  `DiffuGRPOConfig` default). A model that names its own block (the toy: 8) gets it, as at evaluation.
- Rollout Gumbel noise in the model's dtype (both references' `add_gumbel_noise(logits, T, model.dtype)`:
  bfloat16 on LLaDA); `noise_dtype: float64` draws as the evaluation decoders do.
- No activation checkpointing (both train.yaml: `gradient_checkpointing: false`); `gradient_checkpointing: true`
  recomputes each block's activations in backward (`configs/llada_paper.yaml` turns it on).
`configs/toy.yaml` holds the toy's deviations, each with its reason.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from mdlm_eval.errors import UsageError
from mdlm_eval.yaml_file import read_mapping

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
LLADA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]  # the reference's list
TOY_TARGETS = ["qkv", "out", "gate_up", "down"]


@dataclass
class GRPOConfig:
    method: str = "cj-grpo"  # cj-grpo | diffu-grpo
    model: str = "toy"
    task: str = "mdlm_toy_countdown"
    rewards: list[str] | dict[str, list[str]] | None = None  # None: the task's; a list; or task kind -> list
    steps: int = 200  # optimizer steps
    seed: int = 42
    # optimisation
    lr: float = 3e-6
    warmup_ratio: float = 0.0001
    adam_beta1: float = 0.9
    adam_beta2: float = 0.99
    weight_decay: float = 0.1
    max_grad_norm: float = 0.2
    # GRPO
    num_generations: int = 6
    batch_size: int = 6  # samples per process per micro-batch (a multiple of num_generations)
    grad_accum: int = 2
    num_iterations: int | None = None  # None: the task's (8 planning, 12 math)
    epsilon: float = 0.5
    beta: float = 0.04
    scale_rewards: bool = False  # divide advantages by the group std (the paper) or not (the code; default)
    sync_ref_every: int = 0  # 0: never (the references under PEFT); N: TRL's sync every N steps
    ref_mixup_alpha: float = 0.6  # TRL's: ref <- alpha * policy + (1 - alpha) * ref
    p_mask_prompt: float = 0.15  # diffu-GRPO
    # rollouts
    decoder: str | None = None  # None: the method's (cj-grpo eoser_ass, diffu-grpo semi_ar)
    decode_steps: int | str | None = None  # None: the method's (cj-grpo log, diffu-grpo half)
    gen_length: int | None = None  # None: the model's default (the toy's 32), else 256
    temperature: float | None = None  # None: the method's (cj-grpo 1.0, diffu-grpo 0.9)
    noise_dtype: str = "model"  # Gumbel noise of the rollouts: model (the references) | float64 | float32 | bfloat16
    decoder_overrides: dict = field(default_factory=dict)  # block_length, block_num, eos_min_gamma, ...
    # LoRA
    lora_r: int = 128
    lora_alpha: int = 64
    lora_dropout: float = 0.05
    lora_targets: list[str] | None = None  # None: q/k/v/o/gate/up/down (the toy: qkv, out, gate_up, down)
    gradient_checkpointing: bool = False  # recompute each block's activations in backward
    # diagnostics
    eval_every: int = 0  # 0: no held-out evaluation; N: every N steps (and at the end)
    eval_prompts: int = 0  # held-out prompts (a stream disjoint from the training prompts)
    pass_k: int | None = None  # pass@k on the held-out set; None: num_generations
    # bookkeeping
    save_every: int = 50
    threads: int = 2  # CPU threads (the same count gives the same weights)
    dtype: str | None = None

    def to_yaml(self) -> str:
        return yaml.safe_dump(dataclasses.asdict(self), sort_keys=False)


def default_config(model: str | None) -> str | None:
    """The config a run gets without --config: the toy's (`configs/toy.yaml`: its LoRA size and learning rate)
    for the toy, else none (the defaults above: the paper's LLaDA settings)."""
    return "toy" if (model or GRPOConfig.model) == "toy" else None


def config_path(path: str | Path) -> Path:
    """A config file: a path, or a name in configs/ (`toy`)."""
    p = Path(path)
    if not p.is_file() and (CONFIGS_DIR / f"{path}.yaml").is_file():
        p = CONFIGS_DIR / f"{path}.yaml"
    if not p.is_file():
        raise UsageError(f"config {path} does not exist")
    return p


# The references' rollouts: (decoder, steps, temperature) per method
METHOD_ROLLOUT = {"cj-grpo": ("eoser_ass", "log", 1.0), "diffu-grpo": ("semi_ar", "half", 0.9)}


def load_config(path: str | Path | None = None, **overrides) -> GRPOConfig:
    """Defaults, then the YAML file (a path or a name in configs/), then the non-None overrides; an unset
    rollout decoder, steps or temperature becomes the method's."""
    values: dict = {}
    if path is not None:
        values = read_mapping(config_path(path), f"config {path}", "be a mapping of hyperparameters")
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(values) - {f.name for f in fields(GRPOConfig)}
    if unknown:
        raise UsageError(f"unknown hyperparameter(s): {', '.join(sorted(unknown))}")
    cfg = GRPOConfig(**values)
    decoder, steps, temperature = METHOD_ROLLOUT.get(cfg.method, METHOD_ROLLOUT["cj-grpo"])
    cfg.decoder = decoder if cfg.decoder is None else cfg.decoder
    cfg.decode_steps = steps if cfg.decode_steps is None else cfg.decode_steps
    cfg.temperature = temperature if cfg.temperature is None else cfg.temperature
    return cfg
