"""mdlm-eval: evaluation harness for masked diffusion language models."""
import importlib

# Imported on first use (PEP 562), so that `mdlm-eval` starts, and checks its arguments, without loading torch.
_EXPORTS = {"DecodeOutput": "mdlm_eval.decoding", "DecoderSpec": "mdlm_eval.decoding", "Trace": "mdlm_eval.decoding",
            "decode": "mdlm_eval.decoding", "load_spec": "mdlm_eval.decoding", "make_plan": "mdlm_eval.decoding",
            "preset_names": "mdlm_eval.decoding", "LoadedModel": "mdlm_eval.models.loading",
            "load_model": "mdlm_eval.models.loading"}
__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mdlm_eval' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
