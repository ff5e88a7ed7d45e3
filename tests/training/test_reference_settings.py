"""The trainer's defaults against the references' settings, the rewards against d1's on fixed strings (Countdown,
Sudoku, GSM8K, MATH), the text they read, and the rollouts' Gumbel-noise dtype."""
import pytest
import torch

from mdlm_eval.decoding.sampling import make_sampler
from mdlm_eval.errors import UsageError
from mdlm_eval.training.config import GRPOConfig, load_config
from mdlm_eval.training import rewards as R
from mdlm_eval.training.rewards import countdown_boxed, d1_countdown, d1_sudoku
from mdlm_eval.training.tasks import get_task
from mdlm_eval.training.trainer import check_config

# EOSER-ASS-RL cj-grpo/slurm_scripts/train.yaml and d1 diffu-grpo/slurm_scripts/train.yaml (+ DiffuGRPOConfig)
REFERENCE = dict(lr=3e-6, warmup_ratio=0.0001, adam_beta1=0.9, adam_beta2=0.99, weight_decay=0.1, max_grad_norm=0.2,
                 num_generations=6, batch_size=6, grad_accum=2, epsilon=0.5, beta=0.04, p_mask_prompt=0.15,
                 lora_r=128, lora_alpha=64, lora_dropout=0.05, scale_rewards=False, gradient_checkpointing=False,
                 noise_dtype="model")


def test_defaults_are_the_references():
    cfg = GRPOConfig()
    assert {k: getattr(cfg, k) for k in REFERENCE} == REFERENCE
    assert cfg.sync_ref_every == 0  # under PEFT TRL keeps no separate reference model: the anchor is the base


@pytest.mark.parametrize("method,decoder,steps,temperature,blocks", [
    ("cj-grpo", "eoser_ass", "log", 1.0, (None, None)),  # EOSER-ASS-RL train.yaml: one canvas, log2 L steps
    ("diffu-grpo", "semi_ar", "half", 0.9, (32, 8)),  # d1 train.yaml: blocks of 32, 128 steps of 256; the toy's 8
])
def test_rollouts_are_the_methods_unless_set(method, decoder, steps, temperature, blocks):
    for config, block in zip(("llada_paper", "toy"), blocks):
        cfg = load_config(config, method=method)
        assert (cfg.decoder, cfg.decode_steps, cfg.temperature) == (decoder, steps, temperature)
        spec = check_config(cfg)[2]
        assert (spec.name, spec.steps, spec.temperature, spec.block_length) == (decoder, steps, temperature, block)
    assert load_config(method=method, temperature=0.7).temperature == 0.7
    assert load_config(method=method, decoder="threshold", decode_steps=8).decoder == "threshold"
    given = load_config("toy", method=method, decoder="semi_ar", decoder_overrides={"block_length": 16})
    assert check_config(given)[2].block_length == 16


# (text, d1's countdown_reward_func) for numbers [3, 5, 7], target 22: values from running d1's reward_func.py
D1_COUNTDOWN = [
    ("<answer>3*5+7</answer>", 1.0), ("<answer> 7 + 3 * 5 </answer>", 1.0),
    ("<answer>3*5+7</answer> then <answer>3+5+7</answer>", 0.1), ("no answer tag \\boxed{3*5+7}", 0.0), ("", 0.0),
    ("<answer>3*5+8</answer>", 0.1), ("<answer>3*5-7</answer>", 0.1), ("<answer>3*5+7=22</answer>", 0.1),
    ("<answer>(3+5)*7/0</answer>", 0.1), ("<answer>3 5 7</answer>", 0.1), ("<answer>3**5+7</answer>", 0.1),
    ("<answer></answer>", 0.1), ("<answer>3*5+7", 0.0),
]
# (text, d1's sudoku_reward_func) for puzzle 1000020000300004, solution 1342423131242413
D1_SUDOKU = [
    ("<answer>1342423131242413</answer>", 1.0), ("<answer>1342 4231\n3124 2413</answer>", 1.0),
    ("<answer>13424231</answer>", 0.5), ("<answer>1111111111111111</answer>", 0.25), ("1342423131242413", 0.0),
    ("<answer>x</answer>", 0.0), ("<answer>13424231312424139999</answer>", 1.0),
]


@pytest.mark.parametrize("text,expected", D1_COUNTDOWN)
def test_d1_countdown_is_d1s_reward(text, expected):
    assert d1_countdown({"numbers": [3, 5, 7], "target": 22}, text) == expected


@pytest.mark.parametrize("text,expected", D1_SUDOKU)
def test_d1_sudoku_is_d1s_reward(text, expected):
    assert d1_sudoku({"puzzle": "1000020000300004", "solution": "1342423131242413"}, text) == expected


# d1's GSM8K and MATH rewards on fixed strings. The values are what d1's own functions return: diffu-grpo/reward_func.py
# and math500_utils.py of dllm-reasoning/d1 at commit 837888f, run outside the repository by
# fixtures/d1_rewards/make_values.py (its output is these lists).
# (text, xmlcount_reward_func, soft_format_reward_func, strict_format_reward_func, int_reward_func,
#  correctness_reward_func) for a GSM8K doc whose solution ends "#### 72"
GSM8K_SOLUTION = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72"
D1_GSM8K = [
    ('<reasoning>\nShe sold 48/2 = 24 in May.\n</reasoning>\n<answer>\n72\n</answer>\n', 0.5, 0.0, 0.5, 0.5, 2.0),
    ('<reasoning>\nShe sold 24 in May.\n</reasoning>\n<answer>\n72\n</answer>', 0.435, 0.0, 0.0, 0.5, 2.0),
    ('<reasoning>\nline one\nline two\n</reasoning>\n<answer>\n72\n</answer>\n', 0.5, 0.0, 0.0, 0.5, 2.0),
    ('<reasoning>x</reasoning> <answer>72</answer>', 0.0, 0.5, 0.0, 0.5, 2.0),
    ('The answer is 72.', 0.0, 0.0, 0.0, 0.0, 0.0),
    ('72', 0.0, 0.0, 0.0, 0.5, 2.0),
    ('<reasoning>\nr\n</reasoning>\n<answer>\n72\n</answer>\ntrailing words', 0.472, 0.0, 0.0, 0.5, 2.0),
    ('<reasoning>\nr\n</reasoning>\n<answer>\n72\n</answer>\n\n\n', 0.496, 0.0, 0.0, 0.5, 2.0),
    ('<answer>-72</answer>', 0.0, 0.0, 0.0, 0.0, 0.0),
    ('<answer>72</answer><answer>73</answer>', 0.0, 0.0, 0.0, 0.5, 0.0),
    ('', 0.0, 0.0, 0.0, 0.0, 0.0),
    ('<reasoning>\n<reasoning>\nr\n</reasoning>\n<answer>\n72\n</answer>\n', 0.375, 0.0, 0.0, 0.5, 2.0),
    (' <reasoning>\nr\n</reasoning>\n<answer>\n72\n</answer>\n', 0.5, 0.0, 0.0, 0.5, 2.0),
    ('<answer>\n72.0\n</answer>', 0.126, 0.0, 0.0, 0.0, 0.0),
]
# (text, correctness_reward_func_math, boxed_and_answer_tags_format_reward) for a MATH doc with this solution
MATH_SOLUTION = "Half of it, so the answer is $\\boxed{\\frac{1}{2}}$."
D1_MATH = [
    ('<answer>\n\\boxed{\\frac12}\n</answer>', 2.0, 0.75),
    ('0.5', 2.0, 0.25),
    ('<reasoning>\nr\n</reasoning>\n<answer>\n\\boxed{1/2}\n</answer>', 2.0, 0.75),
    ('\\boxed{\\frac{1}{2}', 0.0, 0.25),
    ('\\boxed 0.5$ and more', 2.0, 0.25),
    ('\\fbox{\\frac{1}{2}}', 0.0, 0.25),
    ('<answer>\x08oxed</answer>', 0.0, 1.0),
    ('\\boxed{\\text{ a}\\text{ b}}', 0.0, 0.25),
    ('\\boxed{0.50}', 0.0, 0.25),
    ('\\dfrac{1}{2}', 2.0, 0.25),
    ('<answer>\\boxed{2}</answer> \\boxed{\\frac{1}{2}}', 2.0, 0.75),
    ('<answer>no end \\boxed{\\frac{1}{2}}', 2.0, 0.75),
    ('', 0.0, 0.25),
]


@pytest.mark.parametrize("text,xml,soft,strict,integer,correct", D1_GSM8K)
def test_d1_gsm8k_rewards_are_d1s(text, xml, soft, strict, integer, correct):
    doc = {"question": "q", "answer": 72.0, "solution": GSM8K_SOLUTION}
    got = [R.d1_xmlcount(doc, text), R.d1_soft_format(doc, text), R.d1_strict_format(doc, text), R.d1_int(doc, text),
           R.d1_correctness(doc, text)]
    assert got == [xml, soft, strict, integer, correct]  # exact floats: xmlcount does d1's operations in its order


@pytest.mark.parametrize("text,correct,tags", D1_MATH)
def test_d1_math_rewards_are_d1s(text, correct, tags):
    doc = {"problem": "p", "answer": "\\frac{1}{2}", "solution": MATH_SOLUTION}
    assert [R.d1_correctness_math(doc, text), R.d1_boxed_and_answer_tags(doc, text)] == [correct, tags]


def test_d1_training_sets_default_to_d1s_reward_lists():
    assert get_task("d1_gsm8k").rewards["gsm8k"] == ("d1_xmlcount", "d1_soft_format", "d1_strict_format", "d1_int",
                                                     "d1_correctness")  # diffu_grpo_train.py's list and order
    assert get_task("d1_math").rewards["math"] == ("d1_correctness_math", "d1_boxed_and_answer_tags")
    assert get_task("d1_countdown").rewards["countdown"] == ("d1_countdown",)
    assert get_task("d1_sudoku").rewards["sudoku"] == ("d1_sudoku",)
    d1_names = {n for kind in R.REWARDS.values() for n in kind if n.startswith("d1_")}
    assert {fn.__name__ for fn in R.PLAIN_TEXT} == d1_names  # every d1 reward reads d1's text, no other does


def test_the_toys_boxed_countdown_reward_gives_nothing_without_a_box():
    doc = {"numbers": [3, 5, 7], "target": 22}
    assert countdown_boxed(doc, "3*5+7") == 0.0  # d1: 0 without an answer
    assert countdown_boxed(doc, "\\boxed{3*5+8}") == 0.1
    assert countdown_boxed(doc, "so \\boxed{3*5+7}") == 1.0


def test_task_defaults_are_d1s_and_the_toy_config_names_its_box_reward():
    task = get_task("mdlm_toy")
    assert task.rewards["countdown"] == ("d1_countdown",)
    rewards = check_config(load_config("toy", task="mdlm_toy"))[1]
    assert [n for n, _ in rewards["countdown"]] == ["countdown_boxed"]
    assert [n for n, _ in rewards["sudoku"]] == ["d1_sudoku"]
    with pytest.raises(UsageError, match="rewards name unknown task kind"):
        check_config(load_config("toy", task="mdlm_toy_countdown", rewards={"mbpp": ["acc"]}))  # gsm8k and math are kinds (d1_*)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float64])
def test_gumbel_noise_is_drawn_in_the_given_dtype_as_the_references_add_gumbel_noise(dtype):
    logits = torch.randn(5, 50, generator=torch.Generator().manual_seed(0)) * 3

    def uniform(width, dtype_=torch.float64):
        return torch.rand(5, width, generator=torch.Generator().manual_seed(1), dtype=dtype_)

    # add_gumbel_noise(logits, T, dtype): logits.to(dtype).exp() / (-log(rand_like(logits, dtype))) ** T
    expected = (logits.to(dtype).exp() / (-torch.log(uniform(50, dtype))) ** 0.9).argmax(-1)
    choose = make_sampler("llada", 0.9, None, None, dtype).choose
    assert torch.equal(choose(logits, uniform, [0], [5], None), expected)
    if dtype is torch.float64:  # the decoders' default
        assert torch.equal(make_sampler("llada", 0.9, None, None).choose(logits, uniform, [0], [5], None), expected)


def test_an_unknown_noise_dtype_is_refused():
    with pytest.raises(UsageError, match="noise_dtype 'float8'"):
        check_config(load_config("toy", noise_dtype="float8"))


def test_rollouts_draw_their_noise_in_the_configured_dtype(tmp_path):
    """`model` follows the model's dtype (the toy: float32); float64 gives the evaluation decoders' draws."""
    from mdlm_eval.training.trainer import GRPOTrainer

    small = dict(task="mdlm_toy_countdown", batch_size=12, grad_accum=1, num_iterations=1, lora_r=4, lora_alpha=8,
                 threads=1)
    rollouts = {}
    for noise in ("model", "float64"):
        tr = GRPOTrainer(load_config("toy", noise_dtype=noise, **small), tmp_path / noise)
        assert tr.noise_dtype == {"model": torch.float32, "float64": torch.float64}[noise]
        rollouts[noise] = tr.make_rollout(0).completion
    assert not torch.equal(rollouts["model"], rollouts["float64"])  # the same seeds, other draws


def plain_length(doc, text):
    return float(len(text))


def canvas_length(doc, text):
    return 1000.0 * len(text)


def test_d1_rewards_read_the_completion_without_special_tokens_as_d1s_trainer_decodes_it(tmp_path, monkeypatch):
    """d1 scores `batch_decode(completion_ids, skip_special_tokens=True)`; the canvas with its EOS padding would
    cost xmlcount 0.001 a character and fail the strict format. A reward in PLAIN_TEXT reads that text, any other
    the canvas."""
    import sys

    from mdlm_eval.training import trainer

    monkeypatch.setitem(sys.modules, "rl_texts", sys.modules[__name__])
    monkeypatch.setattr(trainer, "PLAIN_TEXT", R.PLAIN_TEXT | {plain_length})
    tr = trainer.GRPOTrainer(load_config("toy", task="mdlm_toy_sudoku", batch_size=6, grad_accum=1, num_iterations=1,
                                         rewards=["rl_texts:plain_length", "rl_texts:canvas_length"], lora_r=4,
                                         lora_alpha=8, threads=1), tmp_path / "o")
    r = tr.make_rollout(0)
    plain = [tr.lm.tokenizer.decode(row, skip_special_tokens=True) for row in r.completion.cpu()]
    assert plain != r.texts  # the canvas holds special tokens, so the two texts differ
    assert r.rewards.tolist() == [len(p) + 1000.0 * len(t) for p, t in zip(plain, r.texts)]


@pytest.mark.parametrize("task,inner", [("d1_countdown", 8), ("d1_sudoku", 8), ("d1_gsm8k", 12), ("d1_math", 12)])
def test_the_llada_paper_config_is_the_papers_batch(task, inner):
    """configs/llada_paper.yaml: LLaDA-8B-Instruct, 16 prompts x 6 generations per optimizer step on 8 processes
    (6 samples per process x 2 accumulation), 8 inner updates for the planning sets and 12 for the math ones, lr 3e-6,
    the base model as the reference for the whole run, EOSER+ASS rollouts at log2 L of L = 256, the d1 rewards."""
    from mdlm_eval.training.trainer import reward_names

    cfg = load_config("llada_paper", task=task)
    processes = 8
    assert cfg.model == "GSAI-ML/LLaDA-8B-Instruct" and cfg.dtype == "bfloat16"
    assert cfg.batch_size * cfg.grad_accum * processes == 16 * cfg.num_generations and cfg.num_generations == 6
    assert (cfg.num_iterations or get_task(task).num_iterations) == inner
    assert cfg.lr == 3e-6 and cfg.sync_ref_every == 0 and cfg.beta == 0.04 and cfg.epsilon == 0.5
    assert (cfg.decoder, cfg.decode_steps, cfg.gen_length, cfg.temperature) == ("eoser_ass", "log", 256, 1.0)
    kind = task.removeprefix("d1_")
    assert reward_names(cfg, get_task(task), kind) == list(get_task(task).rewards[kind])
    assert all(n.startswith("d1_") for n in reward_names(cfg, get_task(task), kind))


def scattered_reward(doc, text):
    """A reward that differs between completions, so the groups have spread and the adapter moves."""
    import zlib

    return zlib.crc32(text.encode()) % 7 / 7


@pytest.mark.parametrize("sync", [0, 1])
def test_the_kl_anchor_stays_the_base_model_unless_a_sync_is_asked_for(tmp_path, monkeypatch, sync):
    """Default (the references under PEFT): after optimizer steps the reference still gives the base model's
    logits. With `sync_ref_every: 1`, TRL's sync moves it off the base."""
    from mdlm_eval.models.loading import load_model
    from mdlm_eval.training.trainer import GRPOTrainer

    import sys

    monkeypatch.setitem(sys.modules, "rl_texts", sys.modules[__name__])
    tr = GRPOTrainer(load_config("toy", task="mdlm_toy_countdown", batch_size=6, grad_accum=1, num_iterations=1,
                                 lora_r=4, lora_alpha=8, threads=1, steps=2, sync_ref_every=sync,
                                 rewards=["rl_texts:scattered_reward"]), tmp_path / "o")
    for _ in range(2):
        tr.train_step()
    ids = torch.randint(0, 100, (2, 12), generator=torch.Generator().manual_seed(0))
    base = load_model("toy").model.eval()
    tr.policy.eval()
    with torch.no_grad():
        expected = base(ids).logits
        with tr.reference() as ref:
            anchor = ref(ids).logits
        policy = tr.policy(ids).logits
    assert not torch.allclose(policy, expected)  # the adapter has moved
    assert torch.allclose(anchor, expected, atol=1e-6) == (sync == 0)
