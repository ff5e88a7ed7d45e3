"""A fast start: names are checked before torch and lm-eval are imported; a project-only run indexes tasks/ alone."""
import os
import subprocess
import sys

import pytest

from mdlm_eval import startup
from mdlm_eval.errors import UsageError

CHECK_THEN_LIST_MODULES = """
import sys
from mdlm_eval.errors import UsageError
from mdlm_eval.runner import RunConfig, run_evaluation
try:
    run_evaluation(RunConfig(tasks=[sys.argv[1]], model=sys.argv[2], output_path=sys.argv[3]))
except UsageError as e:
    print(e)
print(sorted(m for m in ("torch", "transformers", "lm_eval.evaluator", "datasets") if m in sys.modules))
"""


@pytest.mark.parametrize("task,model,message", [
    ("no_such_task", "toy", "unknown task no_such_task; the project's tasks: mdlm_countdown"),
    ("mdlm_toy", "no-such/model", "model no-such/model is not a folder and not in the Hugging Face cache"),
])
def test_mistyped_names_fail_before_the_heavy_imports(tmp_path, task, model, message):
    out = subprocess.run([sys.executable, "-c", CHECK_THEN_LIST_MODULES, task, model, str(tmp_path / "results")],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    printed = out.stdout.splitlines()
    assert printed[0].startswith(message)
    assert printed[1] == "[]"  # none of torch, transformers, lm-eval's evaluator, datasets was imported
    assert not (tmp_path / "results").exists()


def test_project_task_names_are_lm_evals_index_of_tasks_folder():
    from lm_eval.tasks import TaskManager

    manager = startup.task_manager(["mdlm_toy"], only_project=True)
    assert set(manager.all_tasks) == startup.project_task_names() >= {"mdlm_toy", "mdlm_reasoning", "mdlm_gsm8k"}
    assert set(manager.all_tasks) == set(TaskManager(include_path=str(startup.TASKS_DIR),
                                                     include_defaults=False).all_tasks)


def test_task_name_check():
    assert startup.check_task_names(["mdlm_toy", "mdlm_countdown"]) is True  # the project's alone
    assert startup.lm_eval_may_define("gsm8k") and startup.lm_eval_may_define("mmlu_abstract_algebra")
    assert startup.check_task_names(["mdlm_toy", "gsm8k"]) is False  # lm-eval's index decides
    with pytest.raises(UsageError, match="unknown task gsm8, no_such_task;"):
        startup.check_task_names(["gsm8", "mdlm_toy", "no_such_task"])  # a word of no lm-eval YAML


def test_model_name_check(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    startup.check_model_name("toy")
    startup.check_model_name("./some/folder")  # a folder: its files are checked later
    with pytest.raises(UsageError, match="neither `toy`, an existing folder nor a Hugging Face hub id"):
        startup.check_model_name("not a model")
    with pytest.raises(UsageError, match="not in the Hugging Face cache, and HF_HUB_OFFLINE is set"):
        startup.check_model_name("GSAI-ML/LLaDA-8B-Nonexistent")
