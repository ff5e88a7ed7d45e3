"""Where a model or adapter name points and what its folder holds, read without importing torch.

`toy` is the shipped toy checkpoint (`toy-bd` its block-diffusion twin) and `toy-cj-grpo` / `toy-diffu-grpo` its shipped adapters; anything that
exists on disk, or starts with `.`, `/` or `~`, or has more than one `/`, is a local folder; the rest are hub ids.
These checks run before anything heavy is imported (`mdlm_eval.early_checks`) and again when a model loads.
"""
from __future__ import annotations

import json
from pathlib import Path

from mdlm_eval.errors import UsageError
from mdlm_eval.paths import TOY_ADAPTERS, TOY_DIR, TOY_MODELS

# config.json model_type (lower case) with a native implementation -> the family's name in messages
NATIVE = {"llada": "LLaDA", "dream": "Dream", "llada2_moe": "LLaDA2", "llada21_moe": "LLaDA2.1", "sdar": "SDAR",
          "fast_dllm_qwen": "Fast-dLLM v2"}
# config.json `architectures` that name a native implementation when model_type does not
NATIVE_ARCHITECTURES = {"LLaDAModelLM": "llada", "DreamModel": "dream", "LLaDA2MoeModelLM": "llada2_moe",
                        "SDARForCausalLM": "sdar", "Fast_dLLM_QwenForCausalLM": "fast_dllm_qwen"}
# config.json model_type that transformers itself implements, loaded with its class (no checkpoint code)
TRANSFORMERS_CLASSES = {"diffusion_gemma": "DiffusionGemmaForBlockDiffusion"}
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def is_local(name: str) -> bool:
    return Path(name).expanduser().exists() or name.startswith((".", "/", "~")) or name.count("/") > 1


def resolve_pretrained(pretrained: str) -> tuple[str, bool]:
    """(what to pass to from_pretrained, whether it is a local folder)."""
    if pretrained in TOY_MODELS:  # `toy`, `toy-bd` (its block-diffusion twin)
        return str(TOY_DIR / TOY_MODELS[pretrained]), True
    if is_local(pretrained):
        return str(Path(pretrained).expanduser()), True
    return pretrained, False


def shipped_adapter(name: str) -> Path | None:
    """The folder of a shipped toy adapter, or None if `name` is not one."""
    return TOY_DIR / "adapters" / name if name in TOY_ADAPTERS else None


def resolve_adapter(adapter: str) -> str:
    """A shipped adapter's folder for its name (`toy-cj-grpo`, `toy-diffu-grpo`), else `adapter` unchanged."""
    shipped = shipped_adapter(adapter)
    return str(shipped) if shipped is not None else adapter


def local_config(model: str) -> dict:
    """The `config.json` of a local model folder ({} for a hub id or a folder without a readable one)."""
    source, local = resolve_pretrained(model)
    try:
        config = json.loads((Path(source) / "config.json").read_text()) if local else {}
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def native_kind_of(config: dict) -> str | None:
    """The NATIVE key a config.json names, by `model_type` (any case) or else its first `architectures` entry."""
    kind = str(config.get("model_type", "")).lower()
    if kind in NATIVE:
        return kind
    architectures = config.get("architectures") or []
    return NATIVE_ARCHITECTURES.get(architectures[0]) if isinstance(architectures, list) and architectures else None


def transformers_kind_of(config: dict) -> str | None:
    """The TRANSFORMERS_CLASSES key a config.json names by `model_type`, else None."""
    kind = str(config.get("model_type", "")).lower()
    return kind if kind in TRANSFORMERS_CLASSES else None


def trained_block_length(config: dict) -> int | None:
    """The block size a block-causal checkpoint was trained with, from its config.json (None: not block-causal):
    the toy-bd's `trained_block_length`, SDAR's `block_size`, Fast-dLLM v2's `bd_size`, LLaDA2's `block_length`
    (its configs name none: its `generate`'s 32)."""
    kind = native_kind_of(config)
    value = (config.get("trained_block_length") if config.get("block_causal") else
             config.get("block_size") if kind == "sdar" else config.get("bd_size") if kind == "fast_dllm_qwen" else
             config.get("block_length", 32) if kind in ("llada2_moe", "llada21_moe") else None)
    return value if isinstance(value, int) and value > 0 else None


def check_folder(folder: Path, needs_code: bool = True) -> None:
    """A Hugging Face model folder: config.json, weights, tokenizer, and the code its auto_map names."""
    if not folder.is_dir():
        raise UsageError(f"model folder {folder} does not exist")
    if not (folder / "config.json").is_file():
        raise UsageError(f"model folder {folder} lacks config.json")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise UsageError(f"model folder {folder} has no weights ({' or '.join(WEIGHT_FILES)})")
    if not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")):
        raise UsageError(f"model folder {folder} lacks tokenizer.json / tokenizer_config.json")
    try:
        auto_map = json.loads((folder / "config.json").read_text()).get("auto_map", {})
    except json.JSONDecodeError as e:
        raise UsageError(f"{folder / 'config.json'} is not valid JSON: {e}") from None
    for ref in auto_map.values() if needs_code else ():
        module = (ref[0] if isinstance(ref, list) else ref).split(".")[0]
        if "--" not in module and not (folder / f"{module}.py").is_file():
            raise UsageError(f"model folder {folder} lacks {module}.py, named by auto_map in config.json")


def check_adapter_folder(adapter: str) -> None:
    """A local adapter folder (or shipped name) must exist and hold adapter_config.json; hub ids pass."""
    resolved = resolve_adapter(adapter)
    if not is_local(resolved):
        return
    path = Path(resolved).expanduser()
    if not path.is_dir():
        raise UsageError(f"adapter folder {adapter} does not exist")
    if not (path / "adapter_config.json").is_file():
        raise UsageError(f"adapter folder {adapter} lacks adapter_config.json")
