"""Training the toy from scratch (a few steps of a tiny configuration) and the `toy` CLI's bad-input errors."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mdlm_eval.cli import app
from mdlm_eval.errors import UsageError
from mdlm_eval.models.toy import check_checkpoint, train
from mdlm_eval.models.toy.train import REQUIRED_FILES, sft_loss

TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, batch_size=16,
            lr=1e-2, warmup_steps=5, log_every=5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "ckpt"
    seen = []
    train(out, steps=40, seed=0, progress=lambda s, l: seen.append(s), **TINY)
    return out, seen


def read_log(folder):
    rows = [line.split("\t") for line in (folder / "loss.tsv").read_text().splitlines()[1:]]
    return [float(r[1]) for r in rows]


def test_retraining_lowers_the_loss_and_writes_a_complete_checkpoint(trained):
    out, seen = trained
    losses = read_log(out)
    assert len(losses) == 8 and seen == list(range(1, 41))
    assert losses[-1] < 0.6 * losses[0]
    assert check_checkpoint(out) == out
    assert json.loads((out / "training_args.json").read_text())["steps"] == 40


def test_training_is_deterministic(tmp_path):
    train(tmp_path / "a", steps=6, seed=0, **TINY)
    train(tmp_path / "b", steps=6, seed=0, **TINY)
    train(tmp_path / "c", steps=6, seed=1, **TINY)
    a, b = (tmp_path / "a" / "model.safetensors").read_bytes(), (tmp_path / "b" / "model.safetensors").read_bytes()
    assert a == b and read_log(tmp_path / "a") == read_log(tmp_path / "b")
    assert read_log(tmp_path / "c") != read_log(tmp_path / "a")


def test_check_checkpoint_names_the_missing_file(trained, tmp_path):
    out, _ = trained
    for name in REQUIRED_FILES:
        assert (out / name).is_file()
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in out.iterdir():
        if f.name != "model.safetensors":
            (broken / f.name).write_bytes(f.read_bytes())
    with pytest.raises(UsageError, match="model.safetensors"):
        check_checkpoint(broken)
    with pytest.raises(UsageError, match="does not exist"):
        check_checkpoint(tmp_path / "nowhere")


def test_sft_loss_ignores_the_prompt_and_weights_by_one_over_t():
    """With a model that predicts uniformly, loss = sum over masked answer tokens of log(V)/p / answer length."""
    class Uniform(torch.nn.Module):
        def forward(self, x, attention_mask=None):
            return type("O", (), {"logits": torch.zeros(*x.shape, 10)})()

    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    prompt = torch.tensor([[True, True, False, False, False, False]])
    gen = torch.Generator().manual_seed(0)
    t = torch.rand(1, generator=torch.Generator().manual_seed(0))
    p = (1 - 1e-3) * t + 1e-3
    g2 = torch.Generator().manual_seed(0)
    torch.rand(1, generator=g2)
    masked = (torch.rand((1, 6), generator=g2) < p) & ~prompt
    loss = sft_loss(Uniform(), ids, torch.ones_like(ids), prompt, mask_id=0, eps=1e-3, gen=gen)
    expected = masked.sum() * torch.log(torch.tensor(10.0)) / p / 4
    assert torch.allclose(loss, expected.squeeze())


runner = CliRunner()


def test_cli_refuses_a_non_empty_output_folder(tmp_path):
    (tmp_path / "x").write_text("keep me")
    result = runner.invoke(app, ["toy", "train", "--out", str(tmp_path), "--steps", "1"])
    assert isinstance(result.exception, UsageError) and "not empty" in str(result.exception)
    assert (tmp_path / "x").read_text() == "keep me"


@pytest.mark.parametrize("steps", ["0", "-3"])
def test_cli_refuses_a_non_positive_step_count(tmp_path, steps):
    result = runner.invoke(app, ["toy", "train", "--out", str(tmp_path / "o"), "--steps", steps])
    assert isinstance(result.exception, UsageError) and "--steps" in str(result.exception)
    assert not (tmp_path / "o").exists()


def test_cli_refuses_an_unwritable_output_folder(tmp_path):
    (tmp_path / "file").write_text("")
    result = runner.invoke(app, ["toy", "train", "--out", str(tmp_path / "file" / "o"), "--steps", "1"])
    assert isinstance(result.exception, UsageError) and "cannot write" in str(result.exception)


def test_cli_error_is_one_line_and_exit_code_2(tmp_path):
    exe = Path(sys.executable).with_name("mdlm-eval")
    (tmp_path / "x").write_text("")
    proc = subprocess.run([str(exe), "toy", "train", "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "not empty" in proc.stderr


def test_cli_toy_path():
    from mdlm_eval.models.toy import checkpoint_path

    result = runner.invoke(app, ["toy", "path"])
    assert result.exit_code == 0 and result.output.strip() == str(checkpoint_path())


def test_block_diffusion_training_warm_starts_from_a_toy_folder(trained, tmp_path):
    """`block_length` + `init_from`: the base weights to start from, a block-causal checkpoint out."""
    from mdlm_eval.models.toy import MdlmToyModel

    base, _ = trained
    out = train(tmp_path / "bd", steps=3, seed=0, block_length=4, init_from=str(base), batch_size=8, lr=1e-6,
                warmup_steps=1, log_every=1)
    config = json.loads((out / "config.json").read_text())
    assert config["block_causal"] is True and config["trained_block_length"] == 4
    assert "block_length=4" in config["training"]["command"] and str(base) in config["training"]["command"]
    a = MdlmToyModel.from_pretrained(base).embed.weight
    b = MdlmToyModel.from_pretrained(out).embed.weight
    assert a.shape == b.shape and torch.allclose(a, b, atol=1e-3) and not torch.equal(a, b)  # moved, from base


def test_block_diffusion_training_bad_input(tmp_path):
    with pytest.raises(UsageError, match="block_length must be a non-negative integer"):
        train(tmp_path / "x", steps=1, block_length=-1)
    with pytest.raises(UsageError, match="is not a toy checkpoint folder"):
        train(tmp_path / "y", steps=1, block_length=8, init_from=str(tmp_path / "missing"))
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
