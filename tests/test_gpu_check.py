"""The CPU-checkable parts of scripts/gpu_check.py, on the tiny LLaDA fixture and the toy's tokenizer."""
import importlib.util
import json
import re
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


def test_a_dream_folder_runs_the_logit_check_and_names_the_versions_its_code_needs(tmp_path, capsys):
    """The Dream path of step 1 on CPU: the native model in bfloat16 and float32 on the tiny Dream folder, then
    the checkpoint's code, here a stand-in that fails as Dream's does on transformers 5 (its rotary init meets
    `KeyError: 'default'`): one FAIL line naming the versions that can run it."""
    from tests.models.dream_checkpoint import make_dream_folder

    folder = make_dream_folder(tmp_path / "dream")
    (folder / "configuration_dream.py").write_text(
        "from mdlm_eval.models.dream import DreamConfig as Native\n\n\nclass DreamConfig(Native):\n    pass\n")
    (folder / "modeling_dream.py").write_text(
        "from transformers import PreTrainedModel\n\nfrom .configuration_dream import DreamConfig\n\n\n"
        "class DreamModel(PreTrainedModel):\n    config_class = DreamConfig\n\n"
        "    def __init__(self, config):\n        super().__init__(config)\n        raise KeyError('default')\n")
    assert gpu_check.check_logits(str(folder), 2, 16, device="cpu") is False
    out = capsys.readouterr().out
    assert out.startswith("FAIL the checkpoint's own code does not load") and "4.46 to 4.57" in out


def test_random_weights_without_cuda_exits_2(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert gpu_check.main(["--random-weights"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


def test_tokens_per_second_from_pass_times():
    """L = 256 at 2.5 tokens per forward: 102.4 passes; cached, 8 of them full (one per block of 32)."""
    rate = gpu_check.tokens_per_second({"uncached": 0.1, "prefix": 0.05, "dual": 0.02}, batch=2, gen_length=256,
                                       tpf=2.5)
    assert rate["uncached"] == pytest.approx(512 / 10.24)
    assert rate["prefix"] == pytest.approx(512 / (8 * 0.1 + 94.4 * 0.05))
    assert rate["dual"] == pytest.approx(512 / (8 * 0.1 + 94.4 * 0.02))


def test_the_random_weights_report_on_a_tiny_config():
    from mdlm_eval.models.llada import LladaConfig
    from mdlm_eval.roofline import Rates

    config = LladaConfig(d_model=32, n_heads=2, n_layers=2, mlp_hidden_size=48, vocab_size=64, embedding_size=64,
                         mask_token_id=63, eos_token_id=62, pad_token_id=62)
    lines = list(gpu_check.random_weights_report(config, "cpu", gen_lengths=(64,), batches=(1, 2), prompt_len=16,
                                                 dtype=torch.float32, rates=Rates(1e6, 1e6), repeats=1))
    assert len(lines) == 2 + 2 * 4 and "measured 0 GMAC/s, 0.0 GB/s" in lines[0]
    passes = [line.split() for line in lines if line.split()[2:3] in (["uncached"], ["prefix"], ["dual"])]
    kinds = ["uncached", "prefix", "dual"]
    assert [p[:3] for p in passes] == [["64", b, k] for b in ["1", "2"] for k in kinds]
    for _, _, _, ms, roof, x, _ in passes:
        assert float(roof) > 100 and float(x) == pytest.approx(float(ms) / float(roof), abs=0.06)
    assert lines[5].strip().startswith("tokens/s at 2.0 tok/fwd (LLaDA-8B, tau 0.9): uncached ")


def test_train_memory_without_cuda_exits_2(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert gpu_check.main(["--train-memory-only"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


def test_train_step_plan_arithmetic():
    """Weights + 16 bytes per LoRA parameter (float32 weight, gradient, two AdamW moments) + activations."""
    assert gpu_check.train_step_plan(1000, 10, 7) == {"weights": 1000, "lora": 160, "activations": 7, "total": 1167}


def test_the_training_memory_line_on_a_tiny_config():
    """One CJ-GRPO step on CPU at a tiny LLaDA: LoRA lands on the reference list's modules that LLaDA has
    (q_proj, k_proj, v_proj, up_proj: LLaDA names its others attn_out, ff_proj, ff_out), with r x (in + out)
    parameters each; the rollout takes S steps; the weights are counted at the dtype's size."""
    from mdlm_eval.models.llada import LladaConfig

    d, kv, ff, layers, r = 32, 16, 48, 2, 4
    config = LladaConfig(d_model=d, n_heads=4, n_kv_heads=2, n_layers=layers, mlp_hidden_size=ff, vocab_size=64,
                         embedding_size=64, mask_token_id=63, eos_token_id=62, pad_token_id=62)
    lines, planned, peak = gpu_check.train_step_report(config, "cpu", gen_length=16, steps=4, batch=4, generations=2,
                                                       prompt_len=8, dtype=torch.float32, lora_r=r, lora_alpha=8)
    lora = layers * r * ((d + d) + 2 * (d + kv) + (d + ff))
    assert f"LoRA r {r} on k_proj, q_proj, up_proj, v_proj ({lora / 1e6:.1f}M)" in lines[0]
    assert "S 4 steps per sample, micro-batch 4 (2 prompt x 2 generations, 8-token prompts)" in lines[0]
    assert lines[1] == "  peak GPU memory: n/a (no CUDA device)"
    base = gpu_check.random_model(config, "cpu", torch.float32)
    weights = sum(p.numel() * 4 for p in base.parameters())
    assert peak is None and planned["weights"] == weights and planned["lora"] == 16 * lora
    assert planned["activations"] > 0 and planned["total"] == weights + 16 * lora + planned["activations"]
    assert re.fullmatch(r"  dry-run arithmetic \d+\.\d\d GiB = weights .* activations of one step's forward .*", lines[2])


def llada2_folder_with_stand_in_code(tmp_path):
    """A tiny LLaDA2 folder whose `modeling_llada2_moe.py` (the code `native=false` runs) is a stand-in: the native
    class under LLaDA2's names, which takes the additive block mask LLaDA2's own code takes."""
    from tests.models.block_causal_checkpoints import make_llada2_folder

    folder = make_llada2_folder(tmp_path / "llada2")
    (folder / "configuration_llada2_moe.py").write_text(
        "from mdlm_eval.models.llada2 import Llada2MoeConfig\n\n\nclass LLaDA2MoeConfig(Llada2MoeConfig):\n"
        "    def __init__(self, **kwargs):\n        super().__init__(**kwargs)\n")
    (folder / "modeling_llada2_moe.py").write_text(
        "from mdlm_eval.models.llada2 import Llada2MoeModelLM\n\nfrom .configuration_llada2_moe import LLaDA2MoeConfig"
        "\n\n\nclass LLaDA2MoeModelLM(Llada2MoeModelLM):\n    config_class = LLaDA2MoeConfig\n")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "configuration_llada2_moe.LLaDA2MoeConfig",
                          "AutoModelForCausalLM": "modeling_llada2_moe.LLaDA2MoeModelLM"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_a_block_diffusion_folder_runs_the_logit_and_decode_checks(tmp_path, capsys):
    """Step 1 on CPU for a block-diffusion family: the native LLaDA2 model against the checkpoint's code through
    the `native=false` wrapper (its additive block mask), then the family's preset batched and alone."""
    folder = llada2_folder_with_stand_in_code(tmp_path)
    assert gpu_check.is_block_causal(str(folder))
    assert gpu_check.check_logits(str(folder), 2, 8, device="cpu") is True
    assert capsys.readouterr().out.startswith("PASS native vs own code (bfloat16)")
    lines = gpu_check.check_decode(str(folder), 3, 8, device="cpu")
    assert lines[0].startswith("LLaDA2, block-causal 4: llada2 at L=8, bfloat16: 3 of 3 rows of a left-padded batch "
                               "decode as alone")


def test_the_block_diffusion_row_on_a_given_model():
    from mdlm_eval.block_bench import block_diffusion_lines
    from tests.decoding.test_block_diffusion import native

    model = native("llada2_tiny")
    ids = torch.randint(3, 60, (1, 6), generator=torch.Generator().manual_seed(0))
    lines = block_diffusion_lines(8, model=model, ids=ids, mask_id=63, eos_id=60, label="tiny LLaDA2")
    assert lines[0] == "block diffusion: tiny LLaDA2, L=8, batch 1; identical tokens"
    assert "a cached pass costs" in lines[-1]
