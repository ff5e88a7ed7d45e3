"""The cache option outside `decode`: `mdlm-eval run --cache`, run folders, sweep grids, the `mdlm` model."""
from pathlib import Path

from mdlm_eval import sweep
from mdlm_eval.runner import RunConfig, run_dir

from tests.cli_helpers import run_cli


def test_cached_runs_get_their_own_folder():
    assert run_dir(RunConfig(decoder="semi_ar", steps="half", gen_length=32, cache="dual")).name == \
        "semi_ar_steps-half_L32_bl8_cache-dual"
    assert run_dir(RunConfig(decoder="semi_ar", steps="half", gen_length=32, cache="none")).name == \
        "semi_ar_steps-half_L32_bl8"  # the toy's block for the preset (block_default)


def test_run_refuses_an_unknown_cache_in_one_line(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "run", "--cache", "full", "--output-path", str(tmp_path))
    assert code == 2 and "cache 'full' is unknown; choose one of none, prefix, dual" in err
    assert len(err.strip().splitlines()) == 1 and not any(tmp_path.iterdir())


def test_sweep_grids_take_a_cache_per_decoder(tmp_path: Path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("models: [toy]\ndecoders:\n  - {preset: semi_ar, block_length: 8}\n"
                    "  - {preset: semi_ar, block_length: 8, cache: prefix}\n"
                    "steps: [half]\ngen_lengths: [32]\ntasks: [mdlm_toy]\n")
    cells = sweep.plan_cells(sweep.load_grid(grid), str(tmp_path))
    assert [c.config.cache for c in cells] == [None, "prefix"]
    assert cells[1].folder.name.endswith("_cache-prefix") and "cache=prefix" in cells[1].label


def test_the_mdlm_model_refuses_a_cache_its_model_cannot_take(tmp_path):
    import pytest

    from mdlm_eval.errors import UsageError
    from mdlm_eval.lm_eval_model import MDLMLM

    with pytest.raises(UsageError, match="cache=dual does not combine with classifier-free guidance"):
        MDLMLM(pretrained="toy", decoder="semi_ar", cache="dual", cfg_scale=1.0, device="cpu")


def test_the_fast_dllm_grid_is_valid(tmp_path: Path):
    cells = sweep.plan_cells(sweep.load_grid(Path(__file__).parents[1] / "sweeps" / "fast_dllm.yaml"), str(tmp_path))
    assert len(cells) == 12 and {c.config.gen_length for c in cells} == {256, 512}
    assert {(c.config.decoder, c.config.cache or "none") for c in cells} == {
        (decoder, cache) for decoder in ("semi_ar", "threshold") for cache in ("none", "prefix", "dual")}
