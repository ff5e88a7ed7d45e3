"""Models the decoding tests share."""
import pytest
import torch

from mdlm_eval.model_files import resolve_pretrained
from mdlm_eval.models.toy import MdlmToyModel


@pytest.fixture(scope="module")
def toy_bd():
    """The shipped block-diffusion toy (blocks of 8) in float64."""
    model = MdlmToyModel.from_pretrained(resolve_pretrained("toy-bd")[0], dtype=torch.float64).eval()
    assert model.block_causal and model.trained_block_length == 8
    return model
