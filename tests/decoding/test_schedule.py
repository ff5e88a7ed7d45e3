import pytest

from mdlm_eval.decoding.eos import linear_gamma, power_gamma
from mdlm_eval.decoding.schedule import ascending_plan, uniform_counts, uniform_plan
from mdlm_eval.errors import UsageError


@pytest.mark.parametrize("L,counts", [
    (256, [1, 2, 4, 8, 16, 32, 64, 129]),
    (128, [1, 2, 4, 8, 16, 32, 65]),
    (512, [1, 2, 4, 8, 16, 32, 64, 128, 257]),
    (100, [1, 2, 4, 8, 16, 69]),
])
def test_ascending_counts(L, counts):
    plan = ascending_plan(L, len(counts))
    assert [s.k for s in plan] == counts
    assert all(s.end == L for s in plan)


def test_ascending_right_anchored_blocks():
    plan = ascending_plan(256, 8, block_num=4)  # blocks 31, 32, 64, 129
    assert [s.end for s in plan] == [31] * 5 + [63, 127, 256]
    assert [s.local for s in plan] == list(range(8))


def test_uniform_plan_matches_llada_counts():
    assert uniform_counts(32, 5) == [7, 7, 6, 6, 6]
    plan = uniform_plan(256, 128, 32)
    assert len(plan) == 128 and {s.k for s in plan} == {2}
    assert [s.local for s in plan[:4]] == [0, 1, 2, 3] and plan[16].local == 0 and plan[16].end == 64


def test_uneven_budget_spreads_over_first_blocks():
    plan = uniform_plan(96, 7, 32)  # 3, 2, 2 steps
    assert len(plan) == 7
    assert [s.end for s in plan] == [32, 32, 32, 64, 64, 96, 96]
    assert sum(s.k for s in plan) == 96


def test_gamma_values():
    power = [power_gamma(s, 8, 0.01, 1.0) for s in range(8)]  # the paper's values for S = 8
    assert power == pytest.approx([0.0139, 0.0216, 0.0371, 0.068, 0.130, 0.254, 0.501, 0.996], abs=5e-4)
    assert power[0] == 0.01 + 0.99 * 1 / 256
    assert linear_gamma(0, 64, 0.4, 1.0) == 0.4 and linear_gamma(63, 64, 0.4, 1.0) == 1.0
    assert linear_gamma(0, 1, 0.4, 1.0) == 1.0


@pytest.mark.parametrize("call", [
    lambda: ascending_plan(256, 7),
    lambda: ascending_plan(256, 8, block_num=9),
    lambda: ascending_plan(1, 0),
    lambda: uniform_plan(100, 10, 32),
    lambda: uniform_plan(64, 1, 32),
])
def test_impossible_layouts_are_usage_errors(call):
    with pytest.raises(UsageError):
        call()
