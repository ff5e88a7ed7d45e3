"""Activation checkpointing: the same loss and LoRA gradients with and without it (float64, tiny models, the
CJ-GRPO step-by-step backward), and a model that cannot do it refused before training."""
import pytest
import torch
from peft import LoraConfig, get_peft_model

from mdlm_eval.errors import UsageError
from mdlm_eval.models.llada import LladaConfig, LladaModelLM
from mdlm_eval.models.toy import MdlmToyConfig, MdlmToyModel
from mdlm_eval.training.cj_grpo import cj_grpo_loss
from mdlm_eval.training.rollout import Rollout
from mdlm_eval.training.trainer import enable_checkpointing

MASK, VOCAB = 5, 40


def tiny(kind: str):
    torch.manual_seed(0)
    if kind == "toy":
        model = MdlmToyModel(MdlmToyConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                           num_attention_heads=2, mask_token_id=MASK))
        targets = ["qkv", "out", "gate_up", "down"]
    else:
        model = LladaModelLM(LladaConfig(d_model=32, n_heads=2, n_layers=2, mlp_hidden_size=64, vocab_size=VOCAB,
                                         embedding_size=VOCAB, mask_token_id=MASK, eos_token_id=1, pad_token_id=1))
        targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    return model.to(torch.float64), targets


def rollout() -> Rollout:
    g = torch.Generator().manual_seed(1)
    B, P, L, S = 4, 6, 8, 3
    prompt = torch.randint(6, VOCAB, (B, P), generator=g)
    prompt_mask = torch.ones(B, P, dtype=torch.long)
    prompt_mask[0, :2] = 0  # a left-padded row
    completion = torch.randint(6, VOCAB, (B, L), generator=g)
    commit = torch.randint(0, S, (B, L), generator=g)
    return Rollout(prompt, prompt_mask, completion, commit, S, torch.zeros(B), torch.tensor([1.0, -0.5, 0.25, -0.75]),
                   old_logps=-torch.rand(B, L, generator=g, dtype=torch.float64),
                   ref_logps=-torch.rand(B, L, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("kind", ["toy", "llada"])
def test_checkpointing_leaves_loss_and_gradients_unchanged(kind):
    grads = []
    for checkpointed in (False, True):
        base, targets = tiny(kind)
        if checkpointed:
            enable_checkpointing(base, kind)
        torch.manual_seed(2)
        model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1, target_modules=targets))
        for name, p in model.named_parameters():  # LoRA B non-zero, so every LoRA weight gets a gradient
            if "lora_B" in name:
                torch.nn.init.normal_(p, std=0.1)
        model.train()
        torch.manual_seed(3)  # the same dropout masks (checkpointing replays the RNG state)
        stats = cj_grpo_loss(model, rollout(), MASK, epsilon=0.2, beta=0.04)
        grads.append((stats["loss"], {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}))
        blocks = [m for m in base.modules() if hasattr(m, "gradient_checkpointing")]
        assert blocks and all(m.gradient_checkpointing == checkpointed for m in blocks)
    (loss0, g0), (loss1, g1) = grads
    assert loss0 == pytest.approx(loss1, rel=1e-12)
    assert g0.keys() == g1.keys() and len(g0) > 0
    for name in g0:
        assert torch.allclose(g0[name], g1[name], rtol=1e-10, atol=1e-13), name
        assert g0[name].abs().sum() > 0, name


def test_checkpointing_a_model_that_cannot_is_one_line():
    class Plain(torch.nn.Module):
        pass

    with pytest.raises(UsageError, match="gradient_checkpointing: model m \\(Plain\\) cannot recompute"):
        enable_checkpointing(Plain(), "m")


def test_the_bench_counts_checkpointed_block_inputs_instead_of_their_activations():
    from mdlm_eval.training.bench import SavedBytes, break_even

    peaks = []
    for checkpointed in (False, True):
        base, targets = tiny("toy")
        if checkpointed:
            enable_checkpointing(base, "toy")
        base.train()
        x = torch.randint(6, VOCAB, (2, 10))
        counter = SavedBytes()
        with counter.watch(base):
            base(x).logits.sum().backward()
        peaks.append(counter.peak)
    block_input = 2 * 10 * 32 * 8  # [B, T, hidden] float64, one per block
    assert peaks[1] >= 2 * block_input and peaks[1] < peaks[0]
    rows = [{"S": S, "loss": loss, "checkpointing": 1, "saved_peak_mb": mb}
            for S, loss, mb in ((2, "cj-grpo", 5.0), (2, "cj-grpo-stored", 4.0), (8, "cj-grpo", 5.0),
                                (8, "cj-grpo-stored", 9.0), (32, "cj-grpo", 5.0), (32, "cj-grpo-stored", 30.0))]
    assert break_even(rows) == "# both with checkpointing: the per-step backward keeps less from S = 8 on (measured S: 2, 8, 32)"


def test_dry_run_counts_batch_steps_and_memory_from_config_json_only(tmp_path):
    """The plan of the LLaDA fixture's shapes from a folder holding only its config.json: 8 processes x 2
    accumulation x 6 samples = the paper's 16 prompts x 6 generations; checkpointing keeps less; the stored
    backward keeps S forwards."""
    import shutil
    from pathlib import Path

    from mdlm_eval.training.config import load_config
    from mdlm_eval.training.plan import plan

    shutil.copy(Path(__file__).parents[1] / "models" / "fixtures" / "llada_tiny" / "config.json", tmp_path)
    fixture = str(tmp_path)
    lines = {}
    for ckpt in (False, True):
        lines[ckpt] = plan(load_config("llada_paper", model=fixture, gradient_checkpointing=ckpt, steps=400), 8)
    on = lines[True]
    assert on[1] == ("global batch per optimizer step: 16 prompts x 6 generations = 96 samples "
                     "(6 per micro-batch x 2 accumulation x 8 processes)")
    assert on[2] == ("steps: 400 optimizer steps, 8 inner updates per rollout: 50 rollout rounds, 800 prompts, "
                     "4800 rollouts of 256 tokens at 8 decoding steps")

    def gib(line, word):
        return float(line.split(word)[1].split()[0])

    assert gib(on[3], "activations") < gib(lines[False][3], "activations")
    assert "one backward over all 8 steps" in on[4]
