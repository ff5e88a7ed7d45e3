"""Load an MDLM the way LLaDA loads: `AutoModel`/`AutoTokenizer` with `trust_remote_code`, plus a LoRA adapter.

LLaDA (`model_type` "llada"), Dream (`model_type` "Dream": Dream-v0, Dream-Coder, DiffuCoder), LLaDA2 MoE
(`model_type` "llada2_moe": LLaDA2.0/2.1-mini and -flash), SDAR (`model_type` "sdar": SDAR, TraDo) and Fast-dLLM v2
(`model_type` "Fast_dLLM_Qwen") checkpoints load into the native implementations (`mdlm_eval.models.llada`,
`.dream`, `.llada2`, `.sdar`) by default, without running the checkpoint's code; the family is read from
config.json's `model_type`, else its `architectures`. `native=False` runs the checkpoint's own code instead (Dream's
needs transformers 4.46-4.57, see `DREAM_OWN_CODE_VERSIONS`; SDAR's imports flash-attn; SDAR and Fast-dLLM v2 load
through `AutoModelForCausalLM`, as their `generate` scripts do). DiffusionGemma (`model_type` "diffusion_gemma") is
transformers' own model: it loads with `DiffusionGemmaForBlockDiffusion.from_pretrained`, as its users load it, and
has no mask token (`ids.mask_id` None; `mdlm_eval.decoding.uniform_canvas`).

`pretrained` is a local Hugging Face folder, a hub id, or `toy` (the shipped toy model). Model code runs only
where it is trusted: the toy, local folders, and the known LLaDA, Dream and LLaDA2 hub ids; anything else needs
`trust_remote_code=True`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mdlm_eval.errors import UsageError
from mdlm_eval.model_files import (NATIVE, TRANSFORMERS_CLASSES, WEIGHT_FILES, check_adapter_folder,  # noqa: F401
                                    check_folder, native_kind_of, resolve_adapter, resolve_pretrained,
                                    transformers_kind_of)
from mdlm_eval.models.profiles import Family, ShiftedLogits, TokenIds, family_of, token_ids

TRUSTED_HUB_IDS = re.compile(  # the publishers' own repositories: their code runs without --trust-remote-code
    r"^(GSAI-ML/LLaDA-[\w.-]+|Dream-org/Dream-[\w.-]+|inclusionAI/LLaDA2\.[\w.-]+|JetAstra/SDAR-[\w.-]+"
    r"|Gen-Verse/TraDo-[\w.-]+|Efficient-Large-Model/Fast_dLLM_v2_[\w.-]+)$")
DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class LoadedModel:
    model: nn.Module  # called as model(input_ids, attention_mask=...).logits, logits aligned with positions
    tokenizer: object
    ids: TokenIds
    family: Family
    name: str  # what the user named: `toy`, a folder, or a hub id
    peft: str | None
    device: torch.device
    dtype: torch.dtype

    @property
    def default_gen_length(self) -> int | None:
        return getattr(self.model.config, "gen_length", None)

    @property
    def architecture(self) -> str:
        """The model family in words (the leaderboard's `architecture` column): the native name of its model_type,
        else the model_type, with the block size of a block-causal model and whether it edits committed tokens."""
        kind = str(getattr(self.model.config, "model_type", "") or "")
        parts = [NATIVE.get(kind.lower(), kind or type(self.model).__name__)]
        if getattr(self.model, "block_causal", False):
            parts.append(f"block-causal {self.model.trained_block_length}")
        if getattr(self.model, "token_editing", False):
            parts.append("token editing")
        return ", ".join(parts)


def pick_device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device} was asked for, but this machine has no CUDA GPU (use device=cpu)")
    return device


def pick_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if dtype in (None, "auto"):
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise UsageError(f"dtype '{dtype}' is unknown; choose one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


def load_model(
    pretrained: str = "toy",
    *,
    peft: str | None = None,
    dtype: str | torch.dtype | None = None,
    device: str | None = None,
    family: str | None = None,
    mask_id: int | None = None,
    trust_remote_code: bool | None = None,
    native: bool = True,
) -> LoadedModel:
    """Load a checkpoint the way the harness decodes it; returns a `LoadedModel`.

    `pretrained`: `toy`, a local Hugging Face folder or a hub id. `peft`: a LoRA adapter folder, hub id or shipped
    name (`toy-cj-grpo`, `toy-diffu-grpo`), merged into the weights. `dtype`: bfloat16 on GPU, float32 on CPU by
    default. `family` (`llada` | `dream` | `llada2` | `sdar` | `fast_dllm_qwen`) and `mask_id` override what the
    config says. `native`: LLaDA, Dream, LLaDA2, SDAR and Fast-dLLM v2 checkpoints run this package's
    implementations (`mdlm_eval.models.llada`, `.dream`, `.llada2`, `.sdar`) unless False.

    The result holds `model` (called as `model(input_ids, attention_mask=...).logits`, logits aligned with
    positions, Dream's and Fast-dLLM v2's shift already undone), `tokenizer` (left padding, pad = EOS), `ids`
    (`mask_id`, `eos_id`, `eot_id`), `family`, `name`, `peft`, `device` and `dtype`; `default_gen_length` is the
    folder's `gen_length` (the toy's 32) or None. Raises `UsageError` for anything the caller can fix (a missing
    file, an unknown dtype or family, untrusted code, an adapter that does not fit).
    """
    from transformers import AutoConfig, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    source, local = resolve_pretrained(pretrained)
    library = transformers_kind_of(read_config(source, local))  # a model transformers implements (DiffusionGemma)
    kind = native_kind(source, local) if native and library is None else None
    use_native = kind is not None
    if local:
        check_folder(Path(source), needs_code=not use_native and library is None)
    trusted = local or bool(TRUSTED_HUB_IDS.match(source))
    if trust_remote_code is None:
        trust_remote_code = trusted
    device = pick_device(device)
    torch_dtype = pick_dtype(dtype, device)
    try:
        if library is not None:
            config, model = load_transformers_model(library, source, torch_dtype)
        elif use_native:
            config, model = load_native(kind, source, pretrained, torch_dtype)
        else:
            config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
            model = load_own_code(source, pretrained, config, trust_remote_code, torch_dtype)
        tokenizer = AutoTokenizer.from_pretrained(source, config=config, trust_remote_code=trust_remote_code)
    except UsageError:
        raise
    except ValueError as e:
        if "trust_remote_code" in str(e):
            raise UsageError(
                f"model '{pretrained}' runs its own code and is not a known LLaDA/Dream id or a local folder: "
                f"pass trust_remote_code=True (--trust-remote-code) if you trust it"
            ) from None
        raise UsageError(f"cannot load model '{pretrained}': {str(e).splitlines()[0]}") from None
    except OSError as e:
        raise UsageError(f"cannot load model '{pretrained}': {str(e).splitlines()[0]}") from None
    if peft:
        model = apply_adapter(model, peft, pretrained)
    model = model.to(device).eval()
    fam = family_of(config, family)
    ids = token_ids(config, tokenizer, fam, mask_id)
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == ids.mask_id:
        tokenizer.pad_token_id = ids.eos_id  # pad with EOS, never with the mask (LLaDA generate.py)
    tokenizer.padding_side = "left"
    if fam.name == "dream" and not use_native:
        from mdlm_eval.models.dream.own_code import DreamOwnCode

        model = DreamOwnCode(model)
    if fam.name in BLOCK_DIFFUSION_OWN_CODE and not use_native:
        from mdlm_eval.models.sdar.own_code import BlockDiffusionOwnCode

        model = BlockDiffusionOwnCode(model, fam.name)
        model.token_editing = config.model_type == "llada21_moe" or own_code_edits(source, config)
    wrapped = ShiftedLogits(model) if fam.shift_logits else model
    return LoadedModel(wrapped, tokenizer, ids, fam, pretrained, peft, device, torch_dtype)


BLOCK_DIFFUSION_OWN_CODE = ("sdar", "fast_dllm_qwen", "llada2")  # own code loaded with AutoModelForCausalLM, wrapped
DREAM_OWN_CODE_VERSIONS = "transformers 4.46 to 4.57"  # where Dream's modeling code runs (5.x: KeyError 'default')


def read_config(source: str, local: bool) -> dict:
    """`config.json` of a folder or hub id ({} when it cannot be read here)."""
    from transformers.utils import cached_file

    try:
        path = Path(source) / "config.json" if local else cached_file(source, "config.json")
        config = json.loads(Path(path).read_text())
    except (OSError, ValueError, TypeError):
        return {}
    return config if isinstance(config, dict) else {}


def native_kind(source: str, local: bool) -> str | None:
    """The NATIVE key ("llada", "dream", "sdar", "fast_dllm_qwen") that `config.json` names by model type or
    architecture, else None (a hub id that cannot be read here counts as none)."""
    return native_kind_of(read_config(source, local))


def load_transformers_model(kind: str, source: str, dtype: torch.dtype):
    """A model transformers implements (TRANSFORMERS_CLASSES), loaded with its class as its users load it."""
    import transformers

    model_class = getattr(transformers, TRANSFORMERS_CLASSES[kind], None)
    if model_class is None:
        raise UsageError(f"{kind} checkpoints need transformers with {TRANSFORMERS_CLASSES[kind]} (5.x); this is "
                         f"transformers {transformers.__version__}")
    # torch's grouped_mm (transformers' default for mixture-of-experts layers) takes no float64: the plain loop then
    extra = {"experts_implementation": "eager"} if dtype == torch.float64 else {}
    model = model_class.from_pretrained(source, **dtype_kwarg(dtype), **extra)
    return model.config, model


def dtype_kwarg(dtype: torch.dtype) -> dict:
    """`from_pretrained`'s dtype argument: `dtype` from transformers 4.56 on, `torch_dtype` before."""
    import transformers
    from packaging.version import Version

    return {"dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype": dtype}


def load_own_code(source: str, pretrained: str, config, trust_remote_code: bool, dtype: torch.dtype):
    """The checkpoint's own modeling code (`trust_remote_code`), dtype passed the way the installed transformers
    takes it (`dtype_kwarg`). Dream's code on a transformers it cannot run on: one line."""
    import transformers
    from transformers import AutoModel, AutoModelForCausalLM

    # SDAR's and Fast-dLLM v2's AutoModel is the bare transformer (no head)
    block_diffusion = family_of(config).name in BLOCK_DIFFUSION_OWN_CODE
    auto = AutoModelForCausalLM if block_diffusion else AutoModel
    try:
        return auto.from_pretrained(source, config=config, trust_remote_code=trust_remote_code, **dtype_kwarg(dtype))
    except (KeyError, TypeError) as e:
        if getattr(config, "model_type", "") != "Dream":
            raise
        raise UsageError(f"Dream's own modeling code (native=false) does not run on transformers "
                         f"{transformers.__version__} ({type(e).__name__}: {e}); it runs on "
                         f"{DREAM_OWN_CODE_VERSIONS}, or load {pretrained} with the native model (native=true)"
                         ) from None


def checkpoint_shapes(source: str, family: str = "LLaDA") -> dict[str, tuple[int, ...]]:
    """Parameter name -> shape, read from the safetensors headers (single file or shards), no tensor loaded."""
    from safetensors import safe_open
    from transformers.utils import cached_file

    index = cached_file(source, "model.safetensors.index.json", _raise_exceptions_for_missing_entries=False)
    if index is not None:
        files = sorted(set(json.loads(Path(index).read_text())["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    shapes = {}
    for name in files:
        path = cached_file(source, name, _raise_exceptions_for_missing_entries=False)
        if path is None:
            raise UsageError(f"{family} checkpoint {source} has no safetensors weights ({name}); "
                             f"pass native=false to load it with its own code")
        with safe_open(path, framework="pt") as f:
            for key in f.keys():
                shapes[key] = tuple(f.get_slice(key).get_shape())
    return shapes


def native_classes(kind: str):
    """(config class, model class) of a native implementation."""
    if kind == "sdar":
        from mdlm_eval.models.sdar import SDARConfig, SDARForCausalLM

        return SDARConfig, SDARForCausalLM
    if kind == "fast_dllm_qwen":
        from mdlm_eval.models.sdar import FastDLLMV2Config, FastDLLMV2ForCausalLM

        return FastDLLMV2Config, FastDLLMV2ForCausalLM
    if kind == "dream":
        from mdlm_eval.models.dream import DreamConfig, DreamModel

        return DreamConfig, DreamModel
    if kind in ("llada2_moe", "llada21_moe"):
        from mdlm_eval.models.llada2 import Llada21MoeConfig, Llada2MoeConfig, Llada2MoeModelLM

        return Llada21MoeConfig if kind == "llada21_moe" else Llada2MoeConfig, Llada2MoeModelLM
    from mdlm_eval.models.llada import LladaConfig, LladaModelLM

    return LladaConfig, LladaModelLM


def load_native(kind: str, source: str, pretrained: str, dtype: torch.dtype):
    """A native model (`kind` a NATIVE key) with the checkpoint's weights, after checking every name and
    shape matches."""
    config_class, model_class = native_classes(kind)
    family = NATIVE[kind]
    config = config_class.from_pretrained(source)
    if kind == "llada2_moe":
        config.token_editing = own_code_edits(source, config)
    hint = "pass native=false (--no-native) to run the checkpoint's own code"
    if (why := config.unsupported()) is not None:
        raise UsageError(f"{family} checkpoint {pretrained} uses {why}; {hint}")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in model_class(config).state_dict().items()}
    found = checkpoint_shapes(source, family)
    for name in sorted(set(expected) | set(found)):
        if expected.get(name) != found.get(name):
            what = ("is missing from the checkpoint" if name not in found else
                    f"is not a parameter of the native {family} model" if name not in expected else
                    f"has shape {list(found[name])}, the native model expects {list(expected[name])}")
            raise UsageError(f"{family} checkpoint {pretrained}: parameter {name} {what}; {hint}")
    return config, model_class.from_pretrained(source, config=config, **dtype_kwarg(dtype))


def own_code_edits(source: str, config) -> bool:
    """Whether the checkpoint's own `generate` re-writes committed tokens: LLaDA2.1's takes `editing_threshold`,
    LLaDA2.0's does not (both name model_type llada2_moe). False when the code cannot be read here."""
    from transformers.utils import cached_file

    module = (getattr(config, "auto_map", None) or {}).get("AutoModelForCausalLM", "").split(".")[0]
    try:
        path = cached_file(source, f"{module}.py") if module else None
        return path is not None and "editing_threshold" in Path(path).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return False


def apply_adapter(model: nn.Module, adapter: str, base: str) -> nn.Module:
    """Apply a LoRA adapter (peft) and merge it into the weights, so decoding runs at the base model's speed."""
    from peft import PeftModel

    check_adapter_folder(adapter)
    adapter = resolve_adapter(adapter)
    path = Path(adapter).expanduser()
    try:
        return PeftModel.from_pretrained(model, str(path) if path.exists() else adapter).merge_and_unload()
    except (ValueError, RuntimeError, KeyError, AttributeError) as e:
        raise UsageError(f"adapter {adapter} does not fit base model {base}: {str(e).splitlines()[0]}") from None
