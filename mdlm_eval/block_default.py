"""What a decoder preset's block means on a model, read without torch.

The semi-autoregressive presets (`semi_ar*`, and the block-wise adaptive rules `threshold`, `factor`,
`eb_sampler`, `wino`) carry LLaDA's block of 32 tokens, a small share of LLaDA's 256-token canvas. On a model
whose `config.json` names a `block_length` (the toy: 8, a quarter of its 32-token canvas) a preset's block is
that one instead. The order, the same in `mdlm-eval run`, `lm_eval --model mdlm` and sweeps:

1. an explicit block length (`--block-length`, model argument `block_length=`, a grid's `block_length:`);
2. for a preset (a name in `decoders/`, not a YAML file) that has a block: the model's `block_length`, where it
   divides the generation length;
3. the preset's own.

A block that spans the whole canvas of a preset that is not full diffusion by design (whose block is not null)
is warned about once: that decode is full diffusion. On a block-causal model (`toy-bd`, SDAR, LLaDA2, Fast-dLLM v2:
`model_files.trained_block_length`), a decoder block other than the one it was trained with is warned about once,
naming both (some papers vary it on purpose).
"""
from __future__ import annotations

import sys
from pathlib import Path

from mdlm_eval.model_files import local_config, trained_block_length

_warned: set[tuple] = set()


def is_preset(decoder) -> bool:
    """A preset name (not a YAML file, not a spec object)."""
    return isinstance(decoder, str) and Path(decoder).suffix not in (".yaml", ".yml")


def model_block_length(model: str) -> int | None:
    """The `block_length` of a local model folder's config.json (the toy's 8), else None."""
    value = local_config(model).get("block_length")
    return value if isinstance(value, int) and value > 0 else None


def block_override(decoder: str, explicit: int | None, model: str, gen_length: int | None) -> tuple[int | None, str]:
    """(the block length to put over the preset's, where it comes from: "given" | "model" | "preset")."""
    if explicit is not None:
        return explicit, "given"
    if is_preset(decoder):
        from mdlm_eval.decoding.spec import load_spec

        if load_spec(decoder).block_length is not None:
            default = model_block_length(model)
            if default is not None and (gen_length is None or gen_length % default == 0):
                return default, "model"
    return None, "preset"


def warn_full_diffusion(decoder: str, block_length: int | None, gen_length: int) -> None:
    """Once per process and setting: a block as long as the canvas, on a preset that has blocks, is full diffusion."""
    from mdlm_eval.decoding.spec import load_spec

    if block_length is None or block_length < gen_length or load_spec(decoder).block_length is None:
        return
    if (key := (str(decoder), block_length, gen_length)) in _warned:
        return
    _warned.add(key)
    print(f"mdlm-eval: warning: decoder {decoder} with block_length {block_length} at gen_length {gen_length} is "
          f"one block, full diffusion; pass a smaller --block-length (block_length=) for semi-autoregressive blocks",
          file=sys.stderr)


def warn_trained_block(model: str, block_length: int | None) -> None:
    """Once per process and setting: a decoder block that differs from a block-causal model's trained block."""
    trained = trained_block_length(local_config(model))
    if trained is None or block_length in (None, trained):
        return
    if (key := ("trained", str(model), block_length)) in _warned:
        return
    _warned.add(key)
    print(f"mdlm-eval: warning: block_length {block_length} differs from the block length {trained} that block-causal "
          f"model {model} was trained with", file=sys.stderr)
