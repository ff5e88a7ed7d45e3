"""Makes `lm_eval --model mdlm` and the project's tasks work in lm-eval 0.4.13, which has no plugin discovery.

`mdlm_eval.pth` (installed beside the package) imports this module at interpreter start-up. It imports nothing
heavy: it only puts a finder on `sys.meta_path` that waits for five lm-eval modules and, right after each
loads, (1) registers the lazy name `mdlm` -> `mdlm_eval.lm_eval_model:MDLMLM` in lm-eval's model registry,
(2) adds this project's tasks folder to every `TaskManager` that includes lm-eval's default tasks, (3) has
lm-eval's command line check an `mdlm` model's arguments first (`mdlm_eval.early_checks`) and print this
project's usage errors as one line with exit code 2 (MDLM_EVAL_DEBUG=1 keeps the traceback), (4) lets an `mdlm`
run add what really happened (per-sample NFE and seconds, the device it ran on) to the files lm-eval saves, and
(5) has lm-eval report the standard error that an aggregation carries as its `stderr` attribute (Sudoku's cell
accuracy). The loader it puts in front of lm-eval's own loader hands every other call (`get_code` for
`python -m lm_eval`, `get_source`, ...) to lm-eval's loader unchanged, so `lm_eval`,
`python -m lm_eval`, `accelerate launch -m lm_eval` and `torchrun -m lm_eval` all start as without it.
Programs that never import lm-eval pay one dictionary look-up per import; a patch that fails is skipped
with a warning and never stops lm-eval.
"""
from __future__ import annotations

import importlib.machinery
import os
import sys
import warnings


def _register_model(module) -> None:
    from lm_eval.api.registry import model_registry

    if "mdlm" not in model_registry:
        model_registry.register("mdlm", target="mdlm_eval.lm_eval_model:MDLMLM")


def _add_task_folder(module) -> None:
    import importlib.util
    import runpy
    from pathlib import Path

    # mdlm_eval/paths.py says where the tasks are; read on its own so that importing lm-eval imports no torch
    package = Path(importlib.util.find_spec("mdlm_eval").submodule_search_locations[0])
    TASKS_DIR = runpy.run_path(str(package / "paths.py"))["TASKS_DIR"]
    original = module.TaskManager.__init__

    def __init__(self, verbosity=None, include_path=None, include_defaults=True, metadata=None):
        paths = [] if include_path is None else list(include_path) if isinstance(include_path, (list, tuple)) else [include_path]
        if include_defaults and TASKS_DIR.is_dir() and TASKS_DIR not in {Path(p).resolve() for p in paths}:
            paths.append(str(TASKS_DIR))
        original(self, verbosity, paths or None, include_defaults, metadata)

    module.TaskManager.__init__ = __init__


def _one_line_usage_errors(module) -> None:
    original = module.HarnessCLI.execute

    def execute(self, args):
        try:
            if getattr(args, "model", None) == "mdlm" and isinstance(getattr(args, "model_args", None), dict):
                from mdlm_eval.early_checks import check_model_args  # no torch: before lm-eval's tasks and model

                check_model_args(args.model_args)
            return original(self, args)
        except Exception as e:  # only mdlm-eval's UsageError is shortened; anything else keeps its traceback
            if type(e).__module__ != "mdlm_eval.errors" or os.environ.get("MDLM_EVAL_DEBUG"):
                raise
            print(f"lm_eval: error: {e}", file=sys.stderr)
            sys.exit(2)

    module.HarnessCLI.execute = execute


def _report_what_ran(module) -> None:
    tracker = module.EvaluationTracker
    save_results, save_samples = tracker.save_results_aggregated, tracker.save_results_samples

    def report(name, *args):  # only when an `mdlm` model ran in this process; lm-eval saves its files regardless
        model = sys.modules.get("mdlm_eval.lm_eval_model")
        try:
            model is not None and getattr(model, name)(*args)
        except Exception as e:  # noqa: BLE001
            warnings.warn(f"mdlm-eval could not add its statistics: {type(e).__name__}: {e}", stacklevel=2)

    def save_results_aggregated(self, results, samples, *args, **kwargs):
        report("report_results", results)
        return save_results(self, results, samples, *args, **kwargs)

    def save_results_samples(self, task_name, samples, *args, **kwargs):
        report("report_samples", {task_name: samples})
        return save_samples(self, task_name, samples, *args, **kwargs)

    tracker.save_results_aggregated, tracker.save_results_samples = save_results_aggregated, save_results_samples


def _stderr_of_custom_aggregations(module) -> None:
    """lm-eval picks a metric's standard error from a fixed table keyed by the aggregation function (`mean`,
    `acc_all`, a few bootstrapped ones) and reports "N/A" for any other. An aggregation that carries its own
    estimator as a `stderr` attribute (Sudoku's clustered cell accuracy) gets that one instead."""
    original = module.stderr_for_metric

    def stderr_for_metric(metric, bootstrap_iters):
        own = getattr(metric, "stderr", None)
        if callable(own) and bootstrap_iters > 0:
            return own
        return original(metric, bootstrap_iters)

    module.stderr_for_metric = stderr_for_metric


AFTER_IMPORT = {
    "lm_eval.api.metrics": _stderr_of_custom_aggregations,
    "lm_eval.models": _register_model,
    "lm_eval.tasks.manager": _add_task_folder,
    "lm_eval._cli.harness": _one_line_usage_errors,
    "lm_eval.loggers.evaluation_tracker": _report_what_ran,
}


class _PatchingLoader:
    """lm-eval's loader, with `patch` run after `exec_module`; every other attribute is the wrapped loader's."""

    def __init__(self, loader, patch):
        self.loader, self.patch = loader, patch

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        try:
            self.patch(module)
        except Exception as e:  # noqa: BLE001 - a failed patch must never break lm-eval itself
            warnings.warn(f"mdlm-eval could not extend {module.__name__}: {type(e).__name__}: {e}", stacklevel=2)


class _Finder:
    def find_spec(self, name, path, target=None):
        patch = AFTER_IMPORT.get(name)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader, patch)
        return spec


if not any(type(f).__name__ == "_Finder" and type(f).__module__ == __name__ for f in sys.meta_path):
    sys.meta_path.insert(0, _Finder())
