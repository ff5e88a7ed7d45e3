"""A native implementation of the Dream architecture (`model_type` "Dream") with block-cache support."""
from .configuration_dream import DreamConfig
from .modeling_dream import DreamModel

__all__ = ["DreamConfig", "DreamModel"]
