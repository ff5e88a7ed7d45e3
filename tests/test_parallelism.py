"""Tokens per forward and accuracy under parallelism (mdlm_eval/parallelism.py)."""
import math

import pytest
import torch

from mdlm_eval.decoding import load_spec
from mdlm_eval.parallelism import aup, quality_weight, run_fields, tokens_through_eos
from mdlm_eval.roofline import LLADA_8B, Pass, pass_cost


def test_tokens_through_the_first_eos():
    generated = torch.tensor([[5, 6, 1, 7, 1], [5, 6, 7, 8, 9], [1, 5, 5, 5, 5]])
    assert tokens_through_eos(generated, [1]) == [3, 5, 1]
    assert tokens_through_eos(generated, [9, 1]) == [3, 5, 1]


def test_aup_by_hand():
    """Sorted by TPF; (4, 70) is more than 5 points below the first point's 80 and dropped; the first point counts
    rho y, the next the trapezoid of y W(y) with W(80) = 1, W(79) = exp(-3 (1 - 79/80))."""
    assert quality_weight(80, 80) == 1.0 and quality_weight(90, 80) == 1.0
    expected = 1 * 80 + 0.5 * (2 - 1) * (79 * math.exp(-3 * (1 - 79 / 80)) + 80)
    assert aup([2, 4, 1], [79, 70, 80]) == pytest.approx(expected)
    assert aup([1], [50], y_max=80) == 50  # one point: rho y, unweighted
    with pytest.raises(ValueError):
        aup([0, 1], [50, 60])


def test_run_fields_from_records():
    spec = load_spec("semi_ar")  # blocks of 32
    records = [{"nfe": 16, "tokens_to_eos": 10, "prompt_tokens": 100}, {"nfe": 16, "tokens_to_eos": 32,
                                                                         "prompt_tokens": 300}]
    fields = run_fields(records, spec, 32)
    assert fields["tpf"] == 42 / 32
    per_token = [16 * pass_cost(LLADA_8B, Pass(1, p + 32, p + 32, 32)).macs / 32 for p in (100, 300)]
    assert fields["llada8b_macs_per_token"] == pytest.approx(sum(per_token) / 2)
    assert run_fields([{"nfe": 16}], spec, 32) == {"tpf": None, "llada8b_macs_per_token": None}  # older records
