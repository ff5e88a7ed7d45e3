"""A native implementation of the SDAR block-diffusion architecture (`model_type` "sdar"; TraDo shares it)."""
from .configuration_sdar import SDARConfig
from .modeling_sdar import SDARForCausalLM

__all__ = ["SDARConfig", "SDARForCausalLM"]
