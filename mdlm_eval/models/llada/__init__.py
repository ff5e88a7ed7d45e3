"""A native implementation of the LLaDA architecture (`model_type` "llada") with block-cache support."""
from .configuration_llada import LladaConfig
from .modeling_llada import LladaModelLM

__all__ = ["LladaConfig", "LladaModelLM"]
