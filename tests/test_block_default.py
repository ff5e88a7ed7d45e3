"""A preset's block on the toy: block 8 of its 32-token canvas (its config.json's `block_length`), the same in
`mdlm-eval run`, `lm_eval --model mdlm` and sweeps; an explicit block length wins; a block as long as the canvas
is warned about as full diffusion."""
from pathlib import Path


from mdlm_eval.block_default import block_override
from mdlm_eval.decoding import load_spec
from mdlm_eval.runner import RunConfig, run_dir
from mdlm_eval.sweep import load_grid, plan_cells

REPO = Path(__file__).resolve().parents[1]


def test_where_the_block_comes_from(tmp_path):
    assert block_override("semi_ar", None, "toy", 32) == (8, "model")
    assert block_override("threshold", None, "toy", 32) == (8, "model")
    assert block_override("semi_ar", 16, "toy", 32) == (16, "given")  # explicit wins
    assert block_override("semi_ar", None, "toy", 12) == (None, "preset")  # 8 does not divide 12
    assert block_override("full_diffusion", None, "toy", 32) == (None, "preset")  # no block by design
    assert block_override("eoser_ass", None, "toy", 32) == (None, "preset")
    assert block_override(str(REPO / "decoders" / "semi_ar.yaml"), None, "toy", 32) == (None, "preset")  # a file
    folder = tmp_path / "llada"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llada"}')  # no block_length: the preset's
    assert block_override("semi_ar", None, str(folder), 256) == (None, "preset")


def test_the_block_is_part_of_the_run_folder():
    assert run_dir(RunConfig(decoder="semi_ar")).name == "semi_ar_steps-half_L32_bl8"
    assert RunConfig(decoder="semi_ar").spec().block_length == 8
    assert run_dir(RunConfig(decoder="semi_ar", block_length=32)).name == "semi_ar_steps-half_L32_bl32"
    assert run_dir(RunConfig(decoder="eoser")).name == "eoser_steps-half_L32"
    assert RunConfig(decoder="semi_ar", gen_length=64, model="toy").spec().block_length == 8


def test_a_sweep_cell_takes_the_same_block(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("models: [toy]\ndecoders: [semi_ar, {preset: semi_ar, block_length: 16}]\nsteps: [half]\n"
                    "gen_lengths: [32]\ntasks: [mdlm_toy_countdown]\n")
    cells = plan_cells(load_grid(grid), str(tmp_path))
    assert [c.folder.name for c in cells] == ["semi_ar_steps-half_L32_bl8", "semi_ar_steps-half_L32_bl16"]
    assert [c.config.spec().block_length for c in cells] == [8, 16]


def test_lm_eval_model_takes_the_same_block_and_warns_on_one_block(capsys):
    from mdlm_eval.lm_eval_model import MDLMLM

    assert MDLMLM(pretrained="toy", decoder="semi_ar_margin").spec.block_length == 8
    assert MDLMLM(pretrained="toy", decoder="semi_ar_margin", block_length="16").spec.block_length == 16
    assert "full diffusion" not in capsys.readouterr().err
    lm = MDLMLM(pretrained="toy", decoder="semi_ar_margin", block_length="32")
    assert lm.spec.block_length == 32
    err = capsys.readouterr().err
    assert err.count("warning: decoder semi_ar_margin with block_length 32 at gen_length 32 is one block, full "
                     "diffusion") == 1
    MDLMLM(pretrained="toy", decoder="semi_ar_margin", block_length="32")
    assert "full diffusion" not in capsys.readouterr().err  # once per process
    assert load_spec("full_diffusion").block_length is None
    MDLMLM(pretrained="toy", decoder="full_diffusion")
    assert "full diffusion" not in capsys.readouterr().err  # full diffusion by design: no warning
