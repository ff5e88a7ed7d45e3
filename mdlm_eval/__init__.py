"""mdlm-eval: evaluation harness for masked diffusion language models."""
from mdlm_eval.decoding import DecodeOutput, DecoderSpec, Trace, decode, load_spec, make_plan, preset_names
from mdlm_eval.models.loading import LoadedModel, load_model

__all__ = ["DecodeOutput", "DecoderSpec", "LoadedModel", "Trace", "decode", "load_model", "load_spec", "make_plan",
           "preset_names"]
__version__ = "0.1.0"
