"""Every argument of a run checked before anything heavy loads: no torch, transformers or lm-eval is imported
here, so a mistake is one line in about the time Python takes to start (`make bench` measures it).

Checked: the decoder (preset name or YAML file, its fields and overrides, cache against commit rule and
guidance); steps and blocks against the generation length; a mask decoder on a model without a mask token; the
model folder (exists, config.json, weights, tokenizer, code) and the adapter folder (exists,
adapter_config.json); that peft is installed for an adapter; the batch size; and, for `lm_eval --model mdlm`, the model argument names (with a did-you-mean).
What needs the weights (an adapter that does not fit, a cache the model cannot take) is checked when they load.
"""
from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

from mdlm_eval.errors import UsageError
from mdlm_eval.model_files import check_adapter_folder, check_folder, local_config, native_kind_of, resolve_pretrained


def check_decoder(spec, gen_length: int | None) -> None:
    """Steps and blocks against the length (the spec's own fields and combinations are checked as it is built)."""
    from mdlm_eval.decoding.schedule import check_layout

    if gen_length is not None:
        check_layout(spec, int(gen_length))


def check_model_noise(spec, model: str) -> None:
    """The decoder against a local model's noise (`spec.check_noise`): a mask decoder on a DiffusionGemma folder,
    or `renoise` on a mask model, in one line before the weights load (a hub id is checked when it loads)."""
    from mdlm_eval.decoding.spec import UNIFORM_NOISE_MODEL_TYPES, check_noise

    config = local_config(model)
    if config:
        kind = str(config.get("model_type", "")).lower()
        check_noise(spec, kind in UNIFORM_NOISE_MODEL_TYPES, kind or model)


def check_weights(model: str, peft: str | None, native: bool = True) -> None:
    """A local model folder with its files; an adapter folder with adapter_config.json, and peft to apply it."""
    source, local = resolve_pretrained(model)
    if local:
        has_native = native_kind_of(local_config(model)) is not None
        check_folder(Path(source), needs_code=not (native and has_native))
    if peft:
        check_adapter_folder(peft)
        if importlib.util.find_spec("peft") is None:
            raise UsageError(f"--peft {peft} needs the peft package (pip install peft)")


def check_run(config) -> None:
    """All of a `RunConfig`'s arguments that need no weights (`mdlm-eval run`, each cell of a sweep)."""
    spec = config.spec()  # the decoder name or file, its fields, the overrides
    check_model_noise(spec, config.model)  # a mask decoder on a model without a mask token, before its layout
    check_decoder(spec, config.resolved_gen_length())
    check_weights(config.model, config.peft, config.native)
    if config.batch_size != "auto" and (not isinstance(config.batch_size, int) or config.batch_size < 1):
        raise UsageError(f"batch size must be a positive integer or auto, got {config.batch_size}")


# the `mdlm` model's own arguments (MDLMLM's constructor) and the decoder fields it takes as arguments
MODEL_ARGS = ("pretrained", "peft", "decoder", "gen_length", "batch_size", "max_batch_size", "device", "dtype",
              "family", "mask_id", "trust_remote_code", "mc_num", "seed", "store", "trace", "chat", "native")


def decoder_args() -> tuple[str, ...]:
    from mdlm_eval.decoding.spec import FIELD_NAMES

    return tuple(f for f in FIELD_NAMES if f not in ("name", "description", "schedule"))


def check_model_arg_names(names) -> None:
    """`--model_args` names of `lm_eval --model mdlm`: an unknown one is named with the closest known one."""
    allowed = sorted((*MODEL_ARGS, *decoder_args()))
    for name in sorted(set(names) - set(allowed)):
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise UsageError(f"unknown model argument {name} for mdlm; {hint}the mdlm model arguments: "
                         f"{', '.join(allowed)}")


def resolved_spec(decoder, fields: dict, model: str, gen_length: int | None):
    """The decoder an `mdlm` model decodes with: the preset, the model's block (`block_default`), the fields."""
    from mdlm_eval.block_default import block_override
    from mdlm_eval.decoding.spec import load_spec

    fields = dict(fields)
    canvas = gen_length or local_config(model).get("gen_length")  # the toy's 32, else the task's
    block, _ = block_override(decoder, fields.pop("block_length", None), model, canvas)
    return load_spec(decoder).with_overrides(**fields, block_length=block)


def check_model_args(args: dict) -> None:
    """`lm_eval --model mdlm --model_args ...`, checked as lm-eval's command line starts (`_mdlm_eval_hook`)."""
    check_model_arg_names(args)
    fields = {k: v for k, v in args.items() if k in decoder_args() and v is not None}
    gen_length = int(args["gen_length"]) if args.get("gen_length") not in (None, "", "None") else None
    model = str(args.get("pretrained", "toy"))
    check_decoder(resolved_spec(str(args.get("decoder", "eoser_ass")), fields, model, gen_length), gen_length)
    check_weights(model, args.get("peft"), str(args.get("native", True)).lower() not in ("false", "0"))
