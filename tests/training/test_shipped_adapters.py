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
