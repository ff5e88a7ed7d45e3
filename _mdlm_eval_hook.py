"""Makes `lm_eval --model mdlm` and the project's tasks work in lm-eval 0.4.13, which has no plugin discovery.

`mdlm_eval.pth` (installed beside the package) imports this module at interpreter start-up. It imports nothing
heavy: it only puts a finder on `sys.meta_path` that waits for three lm-eval modules and, right after they
load, (1) registers the lazy name `mdlm` -> `mdlm_eval.lm_eval_model:MDLMLM` in lm-eval's model registry,
(2) adds this project's `tasks/` folder to every `TaskManager` that includes lm-eval's default tasks, and
(3) has the `lm_eval` command print this project's usage errors as one line with exit code 2 (set
MDLM_EVAL_DEBUG=1 for the traceback). Programs
that never import lm-eval pay one dictionary look-up per import. lm-eval releases that read the
`lm_eval.models` entry-point group (declared in pyproject.toml) find the model without it.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
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


def _one_line_usage_errors(module) -> None:
    original = module.cli_evaluate

    def cli_evaluate():
        try:
            return original()
        except Exception as e:  # only mdlm-eval's UsageError is shortened; anything else keeps its traceback
            if type(e).__module__ != "mdlm_eval.errors" or os.environ.get("MDLM_EVAL_DEBUG"):
                raise
            print(f"lm_eval: error: {e}", file=sys.stderr)
            sys.exit(2)

    module.cli_evaluate = cli_evaluate


AFTER_IMPORT = {
    "lm_eval.models": _register_model,
    "lm_eval.tasks.manager": _add_task_folder,
    "lm_eval.__main__": _one_line_usage_errors,
}


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
