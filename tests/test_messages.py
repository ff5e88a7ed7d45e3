"""Honest messages: Ctrl-C and the command that resumes, `--batch-size auto`, a hub dataset while offline, a
failed start, the d1 prefill without --apply_chat_template, lm-eval's `--metadata` hint."""
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest
from lm_eval.tasks import TaskManager

from mdlm_eval import messages
from mdlm_eval.errors import UsageError
from mdlm_eval.lm_eval_model import MDLMLM
from mdlm_eval.runner import RunConfig, run_evaluation
from mdlm_eval.startup import TASKS_DIR
from tests.cli_helpers import run_cli


def test_ctrl_c_says_what_is_saved_and_the_command_resumes(tmp_path, monkeypatch, capsys):
    """A user's Ctrl-C in the middle of `--batch-size auto`, then the printed command: the run ends, reusing."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    args = ["run", "--limit", "40", "--batch-size", "auto", "--output-path", str(tmp_path / "out")]
    process = subprocess.Popen([sys.executable, "-m", "mdlm_eval", *args], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if any(messages.saved_samples(p.parent) >= 64 for p in (tmp_path / "out").rglob("store/rank0.jsonl")):
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130
    line = err.strip().splitlines()[-1]
    assert line.startswith("interrupted: 64 finished samples saved in ")  # one batch of the auto size
    assert "batch size auto: 64 (max_batch_size; halved on out-of-memory)" in err
    command = line.split("; resume with: ")[1]
    assert shlex.split(command) == ["mdlm-eval", *args]

    monkeypatch.chdir(tmp_path)  # the printed command, typed in the same folder (here in-process)
    code, _, resumed_err = run_cli(monkeypatch, capsys, *shlex.split(command)[1:])
    assert code == 0, resumed_err[-2000:]
    assert "reused 64 of 80 finished samples" in resumed_err
    assert "Custom kwargs can be passed" not in err + resumed_err  # lm-eval's --metadata hint: not for these tasks
    manifest = json.loads(next((tmp_path / "out").rglob("manifest.json")).read_text())
    assert manifest["batch_size"] == "auto" and manifest["batch_size_used"] == 64


def test_auto_batch_size_is_printed_and_reported(capsys):
    from lm_eval.api.instance import Instance

    from mdlm_eval.models.toy.prompts import countdown_prompt

    lm = MDLMLM(pretrained="toy", decoder="semi_ar", batch_size="auto", max_batch_size=4)
    requests = [Instance("generate_until", {}, (countdown_prompt([1, 2, i], 3), {"until": []}), 0, ("t", i, 1))
                for i in range(6)]
    lm.generate_until(requests, disable_tqdm=True)
    assert "batch size auto: 4 (max_batch_size; halved on out-of-memory)" in capsys.readouterr().err
    assert lm.batch_sizes == {"generate_until": 4}  # lm-eval writes it to the results' config.batch_sizes


def test_hub_dataset_offline_is_one_line_naming_the_dataset_and_the_offline_task():
    import datasets

    with pytest.raises(ConnectionError) as error:  # HF_DATASETS_OFFLINE=1 (tests/conftest.py)
        datasets.load_dataset("no-such-owner/gsm8k", "main")
    message = str(messages.offline_dataset(error.value))
    assert message == ("dataset no-such-owner/gsm8k is not in the Hugging Face cache and the hub is offline "
                       "(HF_DATASETS_OFFLINE/HF_HUB_OFFLINE); offline, use --tasks mdlm_gsm8k with "
                       "MDLM_EVAL_DATA_DIR=<folder of the task files>")
    assert messages.offline_dataset(ValueError("something else")) is None


def test_failed_start_leaves_no_run_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MDLM_EVAL_DATA_DIR", str(tmp_path / "no_data"))
    (tmp_path / "no_data").mkdir()
    with pytest.raises(UsageError, match="countdown_cd3_test.jsonl"):
        run_evaluation(RunConfig(tasks=["mdlm_countdown"], limit=1, output_path=str(tmp_path / "results")))
    assert not any((tmp_path / "results").iterdir())  # neither the run folder nor the model folder above it


@pytest.mark.parametrize("task", ["mdlm_countdown", "mdlm_gsm8k"])
def test_d1_prompt_with_or_without_apply_chat_template(task):
    """lm-eval renders the `<reasoning>` prefill as an assistant turn only under --apply_chat_template; without
    it the model puts the prefill after the generation prompt itself, so the prompt is d1's either way."""
    manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
    prompts = []
    for templated in (True, False):
        lm = MDLMLM(pretrained="toy")
        task_obj = manager.load([task])["tasks"][task]
        task_obj.build_all_requests(limit=2, apply_chat_template=templated,
                                    chat_template=lm.apply_chat_template if templated else None)
        prompts.append([lm.resolve(instance).prompt for instance in task_obj.instances])
    assert prompts[0] == prompts[1]
    question = task_obj.doc_to_text(task_obj.instances[0].doc)
    user = lm.tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                            add_generation_prompt=True)
    assert prompts[0][0] == user + "<reasoning>"
