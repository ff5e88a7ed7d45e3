"""The shipped toy adapters load by name, through `load_model` (as `--peft` and `peft=` do), and change the toy."""
import pytest
import torch
import yaml

from mdlm_eval.models.loading import load_model, resolve_adapter
from mdlm_eval.models.toy import ADAPTERS, adapter_path


@pytest.mark.parametrize("name", ADAPTERS)
def test_a_shipped_adapter_loads_by_name_and_changes_the_logits(name):
    folder = adapter_path(name)
    assert resolve_adapter(name) == str(folder)
    assert (folder / "adapter_config.json").is_file() and (folder / "adapter_model.safetensors").is_file()
    config = yaml.safe_load((folder / "config.yaml").read_text())
    assert config["method"] == name.removeprefix("toy-") and config["model"] == "toy"
    base, tuned = load_model("toy"), load_model("toy", peft=name)
    ids = torch.tensor([[1, 4, 7, 5, 15, 15, 2, 2, 2]])
    with torch.no_grad():
        a, b = base.model(ids).logits, tuned.model(ids).logits
    assert not torch.allclose(a, b)


def test_names_that_are_not_shipped_adapters_pass_through():
    assert resolve_adapter("some/folder") == "some/folder"
    assert adapter_path("toy-unknown") is None


@pytest.mark.parametrize("name", ADAPTERS)
def test_a_shipped_adapter_is_a_study_run_with_the_reference_settings_and_its_diagnostics(name):
    """Trained with the references' defaults (no reference sync, the model's noise dtype, the method's rollouts)
    and logged with the diagnostics, one row per step."""
    from mdlm_eval.training.config import load_config
    from mdlm_eval.training.diagnostics import read_tsv

    folder = adapter_path(name)
    config = yaml.safe_load((folder / "config.yaml").read_text())
    toy = load_config("toy", method=config["method"])
    assert (config["sync_ref_every"], config["noise_dtype"]) == (0, "model")
    assert (config["decoder"], config["decode_steps"], config["temperature"]) == (toy.decoder, toy.decode_steps,
                                                                                  toy.temperature)
    log = read_tsv(folder / "log.tsv")
    assert {"reward", "reward_std", "zero_spread", "kl", "clip_fraction"} <= set(log)
    assert log["step"] == list(range(1, config["steps"] + 1))
