"""Reading a YAML file that must hold a mapping (decoder presets, sweep grids, training configs)."""
from __future__ import annotations

from pathlib import Path

import yaml

from mdlm_eval.errors import UsageError


def read_mapping(path: Path, label: str, shape: str, empty_ok: bool = True) -> dict:
    """The mapping in `path`. Invalid YAML or another shape is one line: `{label} is not valid YAML: ...`,
    `{label} must {shape}`. An empty file is {} when `empty_ok`."""
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise UsageError(f"{label} is not valid YAML: {str(e).splitlines()[0]}") from None
    if empty_ok and not values:
        return {}
    if not isinstance(values, dict):
        raise UsageError(f"{label} must {shape}")
    return values
