"""A fast start for `mdlm-eval run`: names checked before anything heavy is imported, and a small task index.

lm-eval's `TaskManager` reads all of its ~14,000 task YAMLs (15-60 s on two cores) to build its index, and torch,
transformers and lm-eval take seconds to import. So, before any of that:

- task names are looked up in the project's `tasks/` folder (a YAML read of a dozen files); a name that is not the
  project's and that no lm-eval task YAML even contains as a word is unknown at once (a plain text search of
  lm-eval's task folder, well under a second; a name that is found goes on to lm-eval's own index and check);
- a model name that is neither `toy` nor a folder must be a hub id, and with HF_HUB_OFFLINE set it must be in the
  Hugging Face cache;
- when every task asked for is the project's, the `TaskManager` indexes only the project's `tasks/` folder.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import re
from pathlib import Path

import yaml

from mdlm_eval.errors import UsageError
from mdlm_eval.paths import TASKS_DIR, TOY_MODELS

HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


class _TaskYamlLoader(yaml.SafeLoader):
    """Reads lm-eval task YAMLs for their names: `!function` and other tags load as None."""


_TaskYamlLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def project_task_names(folder: Path = TASKS_DIR) -> set[str]:
    """The task, group and tag names the project's task YAMLs define (as lm-eval's index reads them)."""
    names: set[str] = set()
    for path in sorted(folder.rglob("*.yaml")):
        config = yaml.load(path.read_text(encoding="utf-8"), Loader=_TaskYamlLoader)
        if not isinstance(config, dict):
            continue
        for key in ("task", "group", "tag"):
            value = config.get(key)
            if isinstance(value, str):
                names.add(value)
            elif key == "tag" and isinstance(value, list):
                names.update(v for v in value if isinstance(v, str))
    return names


@functools.cache
def project_prefills(folder: Path = TASKS_DIR) -> dict[str, str]:
    """{task: gen_prefix} of the project's tasks that prefill the assistant turn (the d1 tasks' `<reasoning>`)."""
    prefills = {}
    for path in sorted(folder.rglob("*.yaml")):
        config = yaml.load(path.read_text(encoding="utf-8"), Loader=_TaskYamlLoader)
        if not isinstance(config, dict):
            continue
        task, prefill = config.get("task"), config.get("gen_prefix")
        if isinstance(task, str) and isinstance(prefill, str):
            prefills[task] = prefill
    return prefills


def lm_eval_may_define(name: str) -> bool:
    """False when no YAML of lm-eval's task folder contains `name` as a word: then lm-eval has no such task."""
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or spec.origin is None:
        return True
    word = re.compile(rb"(?<![\w.-])" + re.escape(name.encode()) + rb"(?![\w.-])")
    for folder, _, files in os.walk(Path(spec.origin).parent / "tasks"):
        for file in files:
            if file.endswith((".yaml", ".yml")) and word.search(Path(folder, file).read_bytes()):
                return True
    return False


def check_task_names(tasks: list[str]) -> bool:
    """Refuse a task name neither the project nor lm-eval can define; True when every task is the project's."""
    ours = project_task_names()
    others = [t for t in tasks if t not in ours]
    unknown = [t for t in others if not lm_eval_may_define(t)]
    if unknown:
        mdlm = sorted(t for t in ours if t.startswith("mdlm_"))
        raise UsageError(f"unknown task {', '.join(unknown)}; the project's tasks: {', '.join(mdlm)}")
    return not others


def check_model_name(model: str) -> None:
    """`toy`, a folder (checked later with its files), or a hub id: well-formed, and cached when offline."""
    if model in TOY_MODELS or Path(model).expanduser().exists() or model.startswith((".", "/", "~")) or model.count("/") > 1:
        return
    if not HUB_ID.match(model):
        raise UsageError(f"model {model!r} is neither `toy`, an existing folder nor a Hugging Face hub id")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(model, "config.json"), str):
            raise UsageError(f"model {model} is not a folder and not in the Hugging Face cache, and HF_HUB_OFFLINE "
                             f"is set (download it first, or give a local folder)")


def task_manager(tasks: list[str], only_project: bool):
    """lm-eval's TaskManager: over the project's `tasks/` alone when every task is the project's."""
    from lm_eval.tasks import TaskManager

    if only_project:
        return TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
    return TaskManager(include_path=str(TASKS_DIR))
