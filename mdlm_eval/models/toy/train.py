"""The toy MDLM's checkpoint folder: building the model, writing and checking the folder.

The training recipe lives in `mdlm_eval.training.sft` (and the loss in `mdlm_eval.training.objectives`);
`train`, `TrainConfig`, `sft_loss`, ... are still importable from here.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from mdlm_eval.errors import UsageError

from . import prompts
from .configuration_mdlm_toy import MdlmToyConfig
from .modeling_mdlm_toy import MdlmToyModel
from .tokenizer import EOS, EOT, MASK, BOS

PACKAGE_DIR = Path(__file__).resolve().parent
CODE_FILES = ("configuration_mdlm_toy.py", "modeling_mdlm_toy.py")
REQUIRED_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja",
                  "tokenizer_config.json", *CODE_FILES)
_MOVED = {"TrainConfig", "train", "sample_batch", "encode_pairs", "lr_at"}


def __getattr__(name: str):
    """The SFT recipe moved to mdlm_eval.training (imported lazily: that module imports this one)."""
    if name in _MOVED:
        from mdlm_eval.training import sft

        return getattr(sft, name)
    if name == "sft_loss":
        from mdlm_eval.training.objectives import sft_loss

        return sft_loss
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def checkpoint_path() -> Path:
    """The shipped checkpoint folder (a Hugging Face folder: load with trust_remote_code=True)."""
    from mdlm_eval.model_files import resolve_pretrained

    return Path(resolve_pretrained("toy")[0])


def check_checkpoint(folder: str | os.PathLike) -> Path:
    """Raise `UsageError` naming the first missing file if `folder` is not a complete toy checkpoint."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"toy checkpoint folder {folder} does not exist (retrain: mdlm-eval toy train --out DIR)")
    for name in REQUIRED_FILES:
        if not (folder / name).is_file():
            raise UsageError(f"toy checkpoint {folder} lacks {name} (retrain: mdlm-eval toy train --out DIR)")
    return folder


def check_output_dir(out_dir: str | os.PathLike) -> Path:
    """Refuse an output folder that exists and is not empty, or that cannot be written; create it."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(f"--out {out} exists and is not empty; give a new or empty folder")
    try:  # probe: create the folder and a file in it (also catches read-only file systems)
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out):
            pass
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write there ({e.strerror or e})") from None
    return out


def build_model(tok, cfg) -> MdlmToyModel:
    ids = tok.convert_tokens_to_ids
    config = MdlmToyConfig(
        vocab_size=128 if len(tok) <= 128 else len(tok),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        mask_token_id=ids(MASK), eos_token_id=ids(EOS), eot_token_id=ids(EOT), bos_token_id=ids(BOS),
        pad_token_id=ids(EOS), gen_length=cfg.gen_length, block_length=max(1, cfg.gen_length // 4),
    )
    return MdlmToyModel(config)


def save_checkpoint(model: MdlmToyModel, tok, out: Path, cfg, seconds: float | None = None) -> None:
    """Write config (with auto_map), weights, tokenizer, generation defaults and the model code into `out`."""
    model.config.auto_map = {
        "AutoConfig": "configuration_mdlm_toy.MdlmToyConfig",
        "AutoModel": "modeling_mdlm_toy.MdlmToyModel",
        "AutoModelForMaskedLM": "modeling_mdlm_toy.MdlmToyModel",
    }
    command = f"mdlm-eval toy train --out DIR --steps {cfg.steps} --seed {cfg.seed}"
    if getattr(cfg, "block_length", 0) or getattr(cfg, "init_from", ""):  # set through mdlm_eval.training.sft.train
        command = (f"mdlm_eval.training.sft.train(DIR, steps={cfg.steps}, seed={cfg.seed}, "
                   f"block_length={cfg.block_length}, init_from={cfg.init_from!r}, batch_size={cfg.batch_size}, lr={cfg.lr}, "
                   f"warmup_steps={cfg.warmup_steps})")
    model.config.training = {"command": command,
                             "seconds": None if seconds is None else round(seconds, 1)}
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    for name in CODE_FILES:
        shutil.copyfile(PACKAGE_DIR / name, out / name)
    c = model.config
    gen_cfg = {
        "gen_length": cfg.gen_length, "steps": cfg.gen_length, "block_length": c.block_length,
        "mask_token_id": c.mask_token_id, "eos_token_id": c.eos_token_id, "eot_token_id": c.eot_token_id,
        "bos_token_id": c.bos_token_id, "pad_token_id": c.pad_token_id, "assistant_prefix": prompts.ASSISTANT_PREFIX,
    }
    (out / "generation_config.json").write_text(json.dumps(gen_cfg, indent=2) + "\n")
