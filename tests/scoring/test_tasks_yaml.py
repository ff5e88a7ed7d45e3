"""The task YAMLs load in lm-eval 0.4.13, render d1's prompts, and score d1's generations as d1 does."""
from __future__ import annotations

from pathlib import Path

import pytest
from lm_eval import simple_evaluate
from lm_eval.api.model import LM
from lm_eval.tasks import TaskManager

TASKS_DIR = Path(__file__).resolve().parents[2] / "tasks"
NAMES = {"mdlm_gsm8k": 1319, "mdlm_math500": 500, "mdlm_countdown": 256, "mdlm_sudoku": 256}

# d1's instructions (dllm-reasoning/d1 eval/gsm8k.py, math500.py, countdown.py, sudoku.py), written out
# here independently of mdlm_eval.scoring.prompts.
FORMAT = (
    "Respond in the following format:\n<reasoning>\nYour reasoning here\n</reasoning>\n"
    "<answer>\n\\boxed{...}\n</answer>"
)
D1_INSTRUCTIONS = {
    "mdlm_gsm8k": "You are a math expert. You will be given a question to solve. Solve it step by step. Wrap the "
    "final answer in a \\boxed{}. \n" + FORMAT,
    "mdlm_math500": "You are a math expert. You will be given a question to solve. Solve it step by step. Wrap the "
    "final answer in a \\boxed{}.\n" + FORMAT + '" \n',
    "mdlm_countdown": "Using only the provided numbers, create an arithmetic expression that evaluates to exactly "
    "the provided target number. You may use the operations +, -, *, and / as needed, but each number must be used "
    "exactly once. Think step-by-step. After reasoning, provide only your final expression inside \\boxed{} tags "
    "without including an equals sign or the target number. For example: \\boxed{a + b * c}" + FORMAT,
    "mdlm_sudoku": "\nPlease solve the following 4x4 Sudoku puzzle. The puzzle is provided as a 16-character "
    "string reading left-to-right, top-to-bottom, where '0' represents empty cells.\n\nRules:\n- Fill empty cells "
    "with digits 1-4\n- Each row must contain digits 1-4 exactly once\n- Each column must contain digits 1-4 exactly "
    "once\n- Each 2x2 box must contain digits 1-4 exactly once\n\nImportant: Your solution must be a COMPLETE "
    "16-character string with only the digits 1-4, representing your final solved grid.\n\nRespond in this exact "
    "format:\n<reasoning>\nYour step-by-step solving process\n</reasoning>\n<answer>\n[16-character solution string "
    "with no spaces or separators]\n</answer>\n",
}
# The first question of each task in d1's order (d1's rank-0 files start with it).
D1_FIRST_QUESTIONS = {
    "mdlm_gsm8k": "Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
    "muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per "
    "fresh duck egg. How much in dollars does she make every day at the farmers' market?",
    "mdlm_math500": "Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.  Enter your answer "
    "in the form $(r,\\theta),$ where $r > 0$ and $0 \\le \\theta < 2 \\pi.$",
    "mdlm_countdown": "Numbers: [49, 55, 53]\nTarget: 51",
    "mdlm_sudoku": "Solve the following Sudoku puzzle: 4320004330100004\n",
}
LLADA_USER = "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\n"
LLADA_ASSISTANT = "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"


def llada_chat(messages: list[dict], add_generation_prompt: bool = True) -> str:
    """LLaDA-8B-Instruct's chat template; a final assistant message is continued (a prefill)."""
    text = "<|startoftext|>" + "".join(
        f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>" for m in messages
    )
    return text + LLADA_ASSISTANT[len("<|eot_id|>") :] if add_generation_prompt else text.removesuffix("<|eot_id|>")


@pytest.fixture(scope="module")
def manager() -> TaskManager:
    return TaskManager(include_path=str(TASKS_DIR), include_defaults=False)


@pytest.fixture(scope="module")
def tasks(manager: TaskManager) -> dict:
    assert set(NAMES) | {"mdlm_reasoning"} <= set(manager.all_tasks)
    loaded = manager.load(["mdlm_reasoning"])
    assert loaded["group_map"] == {"mdlm_reasoning": ["mdlm_gsm8k", "mdlm_math500", "mdlm_countdown", "mdlm_sudoku"]}
    return loaded["tasks"]


def test_the_group_holds_the_four_tasks_with_the_d1_subsets(tasks: dict) -> None:
    assert {name: len(list(task.test_docs())) for name, task in tasks.items()} == NAMES


def test_generation_settings_are_d1_protocol(tasks: dict) -> None:
    for task in tasks.values():
        assert task.config.generation_kwargs == {"until": [], "max_gen_toks": 256, "skip_special_tokens": False}
        assert (task.config.gen_prefix, task.config.target_delimiter, task.OUTPUT_TYPE) == (
            "<reasoning>",
            "",
            "generate_until",
        )


@pytest.mark.parametrize("name", sorted(NAMES))
def test_rendered_prompt_is_d1s(tasks: dict, name: str) -> None:
    task = tasks[name]
    user = D1_INSTRUCTIONS[name] + "\n\n" + D1_FIRST_QUESTIONS[name]
    task.build_all_requests(limit=1, apply_chat_template=True, chat_template=llada_chat)
    assert task.instances[0].args[0] == LLADA_USER + user + LLADA_ASSISTANT + "<reasoning>"
    task.build_all_requests(limit=1)
    assert task.instances[0].args[0] == user + "<reasoning>"


class D1Replay(LM):
    """A model that answers each prompt with d1's published generation for the same question."""

    def __init__(self, generations: dict[str, str]) -> None:
        super().__init__()
        self.generations = generations

    def generate_until(self, requests) -> list[str]:
        return [self.generations[req.doc["question"]] for req in requests]

    def loglikelihood(self, requests):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests):
        raise NotImplementedError


@pytest.mark.parametrize(
    ("name", "setup", "acc", "robust"),
    [
        ("mdlm_countdown", "countdown_instruct_128_64", 53 / 256, ("acc_exact", 54 / 256)),
        ("mdlm_sudoku", "sudoku_instruct_128_64", 240 / 2048, ("solved", 1 / 256)),
    ],
)
def test_lm_eval_scores_d1_generations_as_d1(manager, tasks: dict, d1_items: dict, name, setup, acc, robust) -> None:
    """Through lm-eval's own evaluator: process_results per doc, then the YAML's aggregations."""
    replay = D1Replay({item["question"]: item["generations"] for item in d1_items[setup]})
    results = simple_evaluate(model=replay, tasks=[tasks[name]], task_manager=manager, bootstrap_iters=0)
    scores = results["results"][name]
    assert scores["acc,none"] == pytest.approx(acc)
    assert scores[f"{robust[0]},none"] == pytest.approx(robust[1])
    assert results["samples"][name][0]["filtered_resps"] == [d1_items[setup][0]["generations"]]


@pytest.mark.parametrize(
    ("name", "setup"), [("mdlm_gsm8k", "gsm8k_instruct_256_128"), ("mdlm_math500", "math500_instruct_256_128")]
)
def test_process_results_gives_d1s_score(tasks: dict, d1_items: dict, name: str, setup: str) -> None:
    """d1's first 40 generations of the setup, each scored with the task's doc for its question."""
    docs = {doc["question" if name == "mdlm_gsm8k" else "problem"]: doc for doc in tasks[name].test_docs()}
    d1_scores = {  # d1's eval/parse_and_get_acc.py on the same generations
        "mdlm_gsm8k": "1111011011111111111110110110110011011111",
        "mdlm_math500": "0110100000001110100110000000100000001000",
    }[name]
    scores = "".join(
        str(tasks[name].process_results(docs[item["question"]], [item["generations"]])["acc"])
        for item in d1_items[setup][:40]
    )
    assert scores == d1_scores


@pytest.mark.parametrize("name", ["mdlm_toy_countdown", "mdlm_toy_sudoku"])
def test_the_sampled_twin_is_its_task_six_times_at_temperature_one(manager: TaskManager, name: str) -> None:
    """`<task>_sampled`: the same documents and prompts, lm-eval `repeats: 6`, temperature 1 (the toy's rollouts)."""
    loaded = manager.load([name, f"{name}_sampled"])["tasks"]
    task, twin = loaded[name], loaded[f"{name}_sampled"]
    assert (twin.config.repeats, task.config.repeats) == (6, 1)
    assert twin.config.generation_kwargs == {**task.config.generation_kwargs, "temperature": 1.0}
    twin.build_all_requests(limit=2)
    task.build_all_requests(limit=2)
    assert [i.args[0] for i in twin.instances] == [i.args[0] for i in task.instances]
    assert [i.repeats for i in twin.instances] == [6, 6]
