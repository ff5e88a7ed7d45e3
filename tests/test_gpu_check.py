"""The CPU-checkable parts of scripts/gpu_check.py, on the tiny LLaDA fixture and the toy's tokenizer."""
import importlib.util
from pathlib import Path

import pytest
import torch

from transformers import AutoTokenizer

from mdlm_eval.models.llada import LladaModelLM
from mdlm_eval.models.toy import checkpoint_path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "models" / "fixtures" / "llada_tiny"
spec = importlib.util.spec_from_file_location("gpu_check", REPO / "scripts" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


@pytest.fixture(scope="module")
def inputs():
    tokenizer = AutoTokenizer.from_pretrained(checkpoint_path())
    prompts = [[i % 60 + 3 for i in p] for p in gpu_check.chat_prompts(tokenizer, 3)]  # in the fixture's vocab
    return gpu_check.canvases(prompts, 63, 16, "cpu", vocab=60)


def logits(dtype, inputs):
    return gpu_check.logits_of(LladaModelLM.from_pretrained(FIXTURE, dtype=dtype).eval(), inputs)


def test_canvases_are_prompt_plus_a_partly_masked_answer(inputs):
    assert len(inputs) == 3 and all(x.shape[0] == 1 for x in inputs)
    tail = inputs[0][0, -16:]
    assert (tail == 63).sum() == 12 and (tail[::4] != 63).all()


def test_the_pass_rule(inputs):
    bf16, fp32 = logits(torch.bfloat16, inputs), logits(torch.float32, inputs)
    ok, line = gpu_check.judge(bf16, [x.clone() for x in bf16], fp32)
    assert ok and "argmax agreement 100.00%" in line
    shifted = [x + 3 * (x - fp32_x).abs().max() + 0.5 for x, fp32_x in zip(bf16, fp32)]
    shifted[0][0, 0].neg_()
    ok, line = gpu_check.judge(bf16, shifted, fp32)
    assert not ok and line.startswith("native vs own code")


def test_without_cuda_it_says_so_and_exits_2(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert gpu_check.main(["--skip-speed"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


def test_the_speed_table_runs_on_five_shot_gsm8k_prompts():
    tokenizer = AutoTokenizer.from_pretrained(checkpoint_path())
    prompts = gpu_check.fewshot_prompts(tokenizer, 2)
    texts = [tokenizer.decode(p) for p in prompts]
    assert len(prompts) == 2 and texts[0] != texts[1]
    assert all(t.count("Question:") == 6 and t.count("Answer:") == 6 and "####" in t for t in texts)
    assert "Janet" in texts[0]  # the first test item is a worked example


def test_bad_speed_table_arguments_are_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as stop:
        gpu_check.main(["--batches", "0"])
    assert stop.value.code == 2 and "positive integers" in capsys.readouterr().err.splitlines()[-1]
