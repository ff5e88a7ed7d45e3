"""The decoding core: plain torch, nothing from lm-eval or transformers.

The names below are imported on first use, so that `mdlm_eval.decoding.spec` (presets and their checks) and
`mdlm_eval.decoding.schedule` load without torch, for the checks that run before anything heavy.
"""
import importlib

_WHERE = {"DecodeOutput": "loop", "Trace": "loop", "decode": "loop", "make_plan": "loop", "planned_nfe": "loop",
          "DecoderSpec": "spec", "load_spec": "spec", "preset_names": "spec"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
