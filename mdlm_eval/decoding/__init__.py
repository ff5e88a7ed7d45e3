"""The decoding core: plain torch, nothing from lm-eval or transformers."""
from mdlm_eval.decoding.loop import DecodeOutput, Trace, decode, make_plan, planned_nfe
from mdlm_eval.decoding.spec import DecoderSpec, load_spec, preset_names

__all__ = ["DecodeOutput", "DecoderSpec", "Trace", "decode", "load_spec", "make_plan", "planned_nfe",
           "preset_names"]
