"""Model loading (Hugging Face, PEFT), family profiles, and the toy MDLM (`mdlm_eval.models.toy`)."""
from mdlm_eval.models.loading import LoadedModel, load_model

__all__ = ["LoadedModel", "load_model"]
