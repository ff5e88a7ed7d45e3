"""Native block-diffusion models: SDAR (`model_type` "sdar"; TraDo shares it) and Fast-dLLM v2 (`model_type`
"Fast_dLLM_Qwen"), one implementation with the architectures' differences in their configs."""
from .configuration_sdar import FastDLLMV2Config, SDARConfig
from .modeling_sdar import FastDLLMV2ForCausalLM, SDARForCausalLM

__all__ = ["FastDLLMV2Config", "FastDLLMV2ForCausalLM", "SDARConfig", "SDARForCausalLM"]
