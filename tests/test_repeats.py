"""lm-eval `repeats` with sampling: each repeat its own seed and store key, the same at any batch size and on resume."""
from pathlib import Path

import lm_eval
from lm_eval.api.instance import Instance
from lm_eval.tasks import TaskManager

from mdlm_eval.lm_eval_model import MDLMLM, sample_seed
from mdlm_eval.models.toy.prompts import countdown_prompt

HERE = Path(__file__).resolve().parent
TASK = "mdlm_toy_countdown_repeats"  # tests/tasks: the toy Countdown task, repeats: 4, temperature 1.0


def evaluate(batch_size, store):
    manager = TaskManager(include_path=[str(HERE / "tasks"), str(HERE.parent / "tasks")], include_defaults=False)
    results = lm_eval.simple_evaluate(
        model="mdlm", model_args=f"pretrained=toy,decoder=semi_ar,batch_size={batch_size},store={store}",
        tasks=[TASK], task_manager=manager, limit=3, log_samples=True, verbosity="ERROR")
    return [row["resps"][0] for row in results["samples"][TASK]]


def test_repeats_sample_distinct_answers_at_any_batch_size_and_on_resume(tmp_path, capsys):
    at_1 = evaluate(1, tmp_path / "store1")
    at_8 = evaluate(8, tmp_path / "store8")
    assert at_1 == at_8
    assert [len(resps) for resps in at_1] == [4, 4, 4]
    assert all(len(set(resps)) > 1 for resps in at_1)  # four samples, not one sample four times
    capsys.readouterr()
    assert evaluate(1, tmp_path / "store8") == at_8  # resumed at another batch size: every repeat reused
    assert "reused 12 of 12 finished samples" in capsys.readouterr().err


def test_repeat_numbering_seeds_and_keys():
    lm = MDLMLM(pretrained="toy", decoder="semi_ar", temperature=1.0)
    first = Instance("generate_until", {}, (countdown_prompt([4, 5, 6], 26), {"until": []}), 0, ("t", 7, 3))
    second = Instance("generate_until", {}, (countdown_prompt([1, 2, 3], 6), {"until": []}), 0, ("t", 8, 3))
    # lm-eval's list: each request 3 times; then padding copies of the last (data-parallel ranks evened out)
    items = lm.resolve_all([first] * 3 + [second] * 3 + [second] * 3)
    assert [it.repeat for it in items] == [0, 1, 2, 0, 1, 2, 0, 1, 2]
    assert len({it.key for it in items}) == len({it.seed for it in items}) == 6
    assert items[0].seed == sample_seed(0, "t", 7) and items[1].seed == sample_seed(0, "t", 7, 1)
    assert items[0].key == lm.resolve(first).key  # repeat 0 is the sample of a task without repeats
