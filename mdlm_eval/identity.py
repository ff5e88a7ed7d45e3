"""What a run is *of*: the names its folder and its leaderboard row give the model and the adapter, and the rule
that two different weights never share a run folder.

- An adapter is named by a readable part and a short content fingerprint, `a-3fa8c0d1` for `runs/a/adapter`:
  the readable part is the first path component, from the end, that is not a generic `adapter`, `checkpoint-*`
  or `final`. The shipped adapters keep their names (`toy-cj-grpo`).
- A run folder whose manifest names other weights (its `weights`: the content fingerprints of model and adapter)
  is never reused: the run goes to a folder whose model part carries the model's fingerprint too
  (`runs/latest-1c2d3e4f/...`), and the command says so.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from mdlm_eval.fingerprint import content_fingerprint, short_fingerprint
from mdlm_eval.model_files import shipped_adapter

GENERIC = re.compile(r"^(adapter|final|checkpoint-.*)$")


def readable_name(name: str) -> str:
    """The first component of a path or hub id, from the end, that is not generic (`runs/a/adapter` -> `a`)."""
    parts = [p for p in Path(str(name).rstrip("/")).parts if p not in ("/", ".", "..", "~")]
    for part in reversed(parts):
        if not GENERIC.match(part):
            return part.replace(" ", "_")
    return (parts[-1] if parts else str(name)).replace(" ", "_")


def short_name(name: str) -> str:
    """A model as a folder name: the last component of its path or hub id."""
    return Path(name.rstrip("/")).name.replace(" ", "_") or name


def adapter_label(peft: str) -> str:
    """A shipped adapter's name, else the readable name plus the content fingerprint (`a-3fa8c0d1`)."""
    if shipped_adapter(peft) is not None:
        return peft
    short = short_fingerprint(content_fingerprint(peft))
    return f"{readable_name(peft)}-{short}" if short else readable_name(peft)


def weights(model: str, peft: str | None) -> dict[str, str | None]:
    """The content fingerprints a run's manifest records as its `weights`."""
    return {"model": content_fingerprint(model), "peft": content_fingerprint(peft) if peft else None}


def model_part(model: str, peft: str | None, with_fingerprint: bool = False) -> str:
    """The run folder's first level: `<model>[+<adapter label>]`, the model's fingerprint added on request."""
    name = short_name(model)
    if with_fingerprint and (short := short_fingerprint(content_fingerprint(model))):
        name += f"-{short}"
    return name + (f"+{adapter_label(peft)}" if peft else "")


def recorded_weights(folder: Path) -> dict | None:
    """The `weights` a run folder's manifest names (None: no manifest, or one from before they were recorded)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    found = manifest.get("weights") if isinstance(manifest, dict) else None
    return found if isinstance(found, dict) else None


def holds_other_weights(folder: Path, model: str, peft: str | None) -> bool:
    found = recorded_weights(folder)
    return found is not None and found != weights(model, peft)
