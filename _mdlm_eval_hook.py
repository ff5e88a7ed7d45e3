"""Makes `lm_eval --model mdlm` and the project's tasks work in lm-eval 0.4.13, which has no plugin discovery.

`mdlm_eval.pth` (installed beside the package) imports this module at interpreter start-up. It imports nothing
heavy: it only puts a finder on `sys.meta_path` that waits for two lm-eval modules and, right after they
load, (1) registers the lazy name `mdlm` -> `mdlm_eval.lm_eval_model:MDLMLM` in lm-eval's model registry and
(2) adds this project's `tasks/` folder to every `TaskManager` that includes lm-eval's default tasks. Programs
that never import lm-eval pay one dictionary look-up per import. lm-eval releases that read the
`lm_eval.models` entry-point group (declared in pyproject.toml) find the model without it.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent / "tasks"


def _register_model(module) -> None:
    from lm_eval.api.registry import model_registry

    if "mdlm" not in model_registry:
        model_registry.register("mdlm", target="mdlm_eval.lm_eval_model:MDLMLM")


def _add_task_folder(module) -> None:
    original = module.TaskManager.__init__

    def __init__(self, verbosity=None, include_path=None, include_defaults=True, metadata=None):
        paths = [] if include_path is None else list(include_path) if isinstance(include_path, (list, tuple)) else [include_path]
        if include_defaults and TASKS_DIR.is_dir() and TASKS_DIR not in {Path(p).resolve() for p in paths}:
            paths.append(str(TASKS_DIR))
        original(self, verbosity, paths or None, include_defaults, metadata)

    module.TaskManager.__init__ = __init__


AFTER_IMPORT = {"lm_eval.models": _register_model, "lm_eval.tasks.manager": _add_task_folder}


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader, patch):
        self.loader, self.patch = loader, patch

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        self.patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        patch = AFTER_IMPORT.get(name)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader, patch)
        return spec


if not any(isinstance(f, _Finder) for f in sys.meta_path):
    sys.meta_path.insert(0, _Finder())
