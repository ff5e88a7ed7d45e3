"""The `mdlm` lm-eval model on the toy: batching, the sample store, text handling, likelihoods."""
import pytest
from lm_eval.api.instance import Instance
from lm_eval.api.registry import get_model

from mdlm_eval.errors import UsageError
from mdlm_eval.lm_eval_model import MDLMLM, sample_seed
from mdlm_eval.models.toy.prompts import countdown_prompt, sudoku_prompt

PUZZLES = ["1002003001000300", "0120300000410000", "4000030000200001", "0003100000040200", "2000000340000010"]


def requests(gen_kwargs=None, task="t"):
    gen_kwargs = gen_kwargs if gen_kwargs is not None else {"until": [], "skip_special_tokens": False}
    contexts = [sudoku_prompt(p) for p in PUZZLES] + [countdown_prompt([30, 100, 93], 23), countdown_prompt([4, 5, 6], 26)]
    return [Instance("generate_until", {}, (c, dict(gen_kwargs)), i, (task, i, 1)) for i, c in enumerate(contexts)]


@pytest.fixture(scope="module")
def lm():
    return MDLMLM(pretrained="toy", decoder="semi_ar", batch_size=1)


def test_registered_under_mdlm():
    assert get_model("mdlm") is MDLMLM


@pytest.mark.parametrize("decoder,temperature", [("semi_ar", 0.0), ("eoser_ass", 0.0), ("full_diffusion", 0.8)])
def test_same_generations_at_any_batch_size(decoder, temperature):
    outs = []
    for batch_size in (1, 8, "auto"):
        lm = MDLMLM(pretrained="toy", decoder=decoder, temperature=temperature, batch_size=batch_size, dtype="float64")
        outs.append(lm.generate_until(requests(), disable_tqdm=True))
    assert outs[0] == outs[1] == outs[2]
    assert len(set(outs[0])) > 1


def test_sampling_noise_is_seeded_by_task_and_document():
    assert sample_seed(0, "a", 1) == sample_seed(0, "a", 1) != sample_seed(0, "a", 2) != sample_seed(1, "a", 1)


def test_whole_canvas_or_text_up_to_eos(lm):
    canvas = lm.generate_until(requests(), disable_tqdm=True)
    clean = lm.generate_until(requests({"until": []}), disable_tqdm=True)
    eos = lm.tokenizer.eos_token
    for whole, short in zip(canvas, clean):
        assert "<|" not in short
        assert whole.startswith(short)
    assert any(eos in whole for whole in canvas)
    cut = lm.generate_until(requests({"until": ["1"], "skip_special_tokens": False}), disable_tqdm=True)
    assert all("1" not in text for text in cut)


def test_decoder_settings_per_task_and_model_args(lm):
    assert lm.resolve(requests({"steps": 8, "max_gen_toks": 64})[0]).spec.steps == 8
    assert lm.resolve(requests({"max_gen_toks": 64})[0]).gen_length == 64
    with pytest.raises(UsageError, match="unknown model argument stepz"):
        MDLMLM(pretrained="toy", stepz=3)
    with pytest.raises(UsageError, match="ascending step sizes take exactly"):
        MDLMLM(pretrained="toy", decoder="ass", steps=4, gen_length=32)


def test_store_reuses_finished_samples(tmp_path, capsys):
    first = MDLMLM(pretrained="toy", decoder="semi_ar", store=str(tmp_path), dtype="float64")
    texts = first.generate_until(requests()[:3], disable_tqdm=True)
    again = MDLMLM(pretrained="toy", decoder="semi_ar", store=str(tmp_path), dtype="float64")
    capsys.readouterr()
    assert again.generate_until(requests(), disable_tqdm=True)[:3] == texts
    assert "reused 3 of 7 finished samples" in capsys.readouterr().err
    other = MDLMLM(pretrained="toy", decoder="semi_ar", steps=32, store=str(tmp_path), dtype="float64")
    other.generate_until(requests()[:1], disable_tqdm=True)
    assert "reused 0 of 1 finished samples" in capsys.readouterr().err  # another setting, another key


def test_batch_size_in_model_args_wins_over_lm_evals_own():
    """lm-eval passes its --batch_size (default 1), --max_batch_size and --device beside --model_args."""
    lm_eval_defaults = {"batch_size": 1, "max_batch_size": None, "device": "cuda:0"}
    sixteen = MDLMLM.create_from_arg_string("pretrained=toy,batch_size=16", lm_eval_defaults)
    assert sixteen.batch_size == 16 and not sixteen.auto_batch
    auto = MDLMLM.create_from_arg_string("pretrained=toy,batch_size=auto,max_batch_size=4", lm_eval_defaults)
    assert auto.auto_batch and auto.batch_size == 4
    assert MDLMLM.create_from_arg_string("pretrained=toy", {"batch_size": 2}).batch_size == 2


def test_loglikelihood_is_deterministic_and_prefers_the_answer(lm):
    context = lm.format_prompt(sudoku_prompt("4320004330100004"))
    good = Instance("loglikelihood", {}, (context, "<answer>4321124334122134</answer>"), 0, ("t", 0, 1))
    bad = Instance("loglikelihood", {}, (context, "<answer>1111111111111111</answer>"), 1, ("t", 1, 1))
    lm.mc_num = 16
    (ll_good, greedy), (ll_bad, _) = lm.loglikelihood([good, bad], disable_tqdm=True)
    assert lm.loglikelihood([good], disable_tqdm=True)[0][0] == ll_good
    assert greedy is False and ll_bad < 0 and ll_good < 0
    assert ll_good > ll_bad


def test_rolling_loglikelihood_refused(lm):
    with pytest.raises(UsageError, match="does not score rolling log-likelihoods"):
        lm.loglikelihood_rolling([])
