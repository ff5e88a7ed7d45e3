"""A toy masked diffusion LM that runs on a laptop CPU: LLaDA's architecture, tokens and SFT recipe, trained
on 4x4 Sudoku and 3-number Countdown.

`checkpoint_path()` is the shipped Hugging Face folder (load with `trust_remote_code=True`); `train(out_dir)`
rebuilds it from scratch (`mdlm-eval toy train --out DIR`); `check_checkpoint(folder)` names a missing file.
"""
from mdlm_eval.model_files import shipped_adapter as adapter_path  # the folder of a shipped adapter, or None
from mdlm_eval.paths import TOY_ADAPTERS as ADAPTERS  # LoRA adapters shipped in adapters/<name> (mdlm-eval train)

from .configuration_mdlm_toy import MdlmToyConfig
from .modeling_mdlm_toy import MdlmToyModel
from .prompts import ASSISTANT_PREFIX, countdown_prompt, sudoku_prompt
from .tokenizer import build_tokenizer
from .train import check_checkpoint, checkpoint_path

__all__ = ["MdlmToyConfig", "MdlmToyModel", "ASSISTANT_PREFIX", "countdown_prompt", "sudoku_prompt",
           "build_tokenizer", "TrainConfig", "check_checkpoint", "checkpoint_path", "train"]


def _register_auto_classes() -> None:
    """Let AutoConfig/AutoModel resolve `model_type = "mdlm_toy"` locally once this package is imported (the
    shipped folder also loads anywhere with `trust_remote_code=True`, through its own copy of the code)."""
    from transformers import AutoConfig, AutoModel

    try:
        AutoConfig.register("mdlm_toy", MdlmToyConfig)
        AutoModel.register(MdlmToyConfig, MdlmToyModel)
    except ValueError:  # already registered
        pass


_register_auto_classes()


def train(out_dir, *args, **kwargs):
    """Train the toy from scratch: `mdlm_eval.training.sft.train` (imported here on first use)."""
    from mdlm_eval.training.sft import train as sft_train

    return sft_train(out_dir, *args, **kwargs)


def __getattr__(name: str):
    """`TrainConfig` (the SFT recipe's, in mdlm_eval.training.sft, imported on first use)."""
    if name == "TrainConfig":
        from mdlm_eval.training.sft import TrainConfig

        return TrainConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
