"""`mdlm-eval train`: the config follows the model and is named; library warnings go to the run's train.log."""
import logging
import warnings
from pathlib import Path

import pytest

from mdlm_eval.training import trainer
from mdlm_eval.training.config import CONFIGS_DIR, GRPOConfig, default_config, load_config
from tests.cli_helpers import run_cli


@pytest.fixture
def fake_train(monkeypatch):
    """`train` replaced by one that records its config and warns as transformers does."""
    seen = []

    def train(cfg, out, *, peft=None, resume=False, progress=None):
        seen.append(cfg)
        warnings.warn("`is_gradient_checkpointing` is deprecated", FutureWarning)
        logging.getLogger("transformers.modeling_utils").warning("some weights were not used")
        (Path(out) / "adapter").mkdir(parents=True)
        progress(1, {"reward": 0.5, "kl": 0.0, "loss": 0.1})
        return Path(out) / "adapter"

    monkeypatch.setattr(trainer, "train", train)
    return seen


def test_the_toy_gets_the_toy_config_and_the_command_says_so(tmp_path, monkeypatch, capsys, fake_train):
    code, out, err = run_cli(monkeypatch, capsys, "train", "cj-grpo", "--steps", "1", "--out", str(tmp_path / "o"))
    assert code == 0, err
    toy = load_config("toy")
    assert (fake_train[0].lora_r, fake_train[0].lr, fake_train[0].warmup_ratio) == (toy.lora_r, toy.lr, 0.0)
    assert f"config: {CONFIGS_DIR / 'toy.yaml'} (the default for toy; --config to choose another)" in out
    # the warnings are in the run's log, not on the terminal
    assert "FutureWarning" not in out + err and "weights were not used" not in out + err
    log = (tmp_path / "o" / "train.log").read_text()
    assert "FutureWarning: `is_gradient_checkpointing` is deprecated" in log and "some weights were not used" in log
    assert "2 library warning(s) in" in out


def test_a_given_config_wins_and_other_models_keep_the_paper_settings(tmp_path, monkeypatch, capsys, fake_train):
    config = tmp_path / "mine.yaml"
    config.write_text("model: toy\nlora_r: 8\nlr: 1.0e-4\n")
    code, out, err = run_cli(monkeypatch, capsys, "train", "diffu-grpo", "--config", str(config), "--steps", "1",
                             "--out", str(tmp_path / "o"))
    assert code == 0, err
    assert fake_train[0].lora_r == 8 and f"config: {config}\n" in out
    assert default_config("GSAI-ML/LLaDA-8B-Instruct") is None and GRPOConfig().lora_r == 128
