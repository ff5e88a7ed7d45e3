"""Native LLaDA2 MoE (LLaDA2.0/2.1-mini and -flash, model_type `llada2_moe`): the published weights without the
checkpoint's own code."""
from .configuration_llada2 import Llada21MoeConfig, Llada2MoeConfig
from .modeling_llada2 import Llada2MoeModelLM

__all__ = ["Llada21MoeConfig", "Llada2MoeConfig", "Llada2MoeModelLM"]
