"""The bad-input catalogue: each mistake gives one line naming it, a non-zero exit code, no traceback,
and nothing half-written."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mdlm_eval import cli
from mdlm_eval.decoding import load_spec
from mdlm_eval.errors import UsageError
from mdlm_eval.store import SampleStore
from tests.cli_helpers import run_cli


@pytest.fixture()
def out(tmp_path):
    return tmp_path / "results"


def catalogue(tmp_path, out):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("schedule: [unclosed\n")
    grid_unknown = tmp_path / "grid.yaml"
    grid_unknown.write_text(yaml.safe_dump({"models": ["toy"], "decoders": ["semi_ar"], "steps": ["half"],
                                             "gen_lengths": [32], "tasks": ["mdlm_toy"], "colour": "red"}))
    not_json = tmp_path / "x_0_generations.json"
    not_json.write_text("{not json")
    empty = tmp_path / "empty"
    empty.mkdir()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    o = ["--output-path", str(out)]
    return [
        (["run", "--decoder", "nope", *o], "unknown decoder 'nope'"),
        (["run", "--decoder", str(bad_yaml), *o], "is not valid YAML"),
        (["run", "--tasks", "mdlm_nope", *o], "unknown task mdlm_nope"),
        (["run", "--model", str(tmp_path / "missing"), *o], "does not exist"),
        (["run", "--model", str(empty), *o], "lacks config.json"),
        (["run", "--peft", str(empty), *o], "lacks adapter_config.json"),
        (["run", "--steps", "0", *o], "steps must be between 1 and gen_length"),
        (["run", "--steps", "many", *o], "steps 'many' must be an integer"),
        (["run", "--gen-length", "0", *o], "gen_length must be >= 1"),
        (["run", "--decoder", "ass", "--steps", "half", *o], "take exactly floor(log2 32)"),
        (["run", "--decoder", "ass", "--block-num", "9", *o], "block_num must be between 1 and steps"),
        (["run", "--temperature", "-1", *o], "temperature must be >= 0"),
        (["run", "--batch-size", "zero", *o], "batch size must be a positive integer or auto"),
        (["run", "--device", "cuda:3", *o], "no CUDA GPU"),
        (["run", "--output-path", str(a_file / "sub")], "cannot write results"),
        (["rescore", "--format", "d1", str(not_json)], str(not_json)),
        (["leaderboard", str(empty)], str(empty)),
        (["sweep", str(bad_yaml)], str(bad_yaml)),
        (["sweep", str(grid_unknown)], "colour"),
        (["toy", "train", "--out", str(busy)], str(busy)),
        (["toy", "train", "--out", str(tmp_path / "new"), "--steps", "0"], "--steps must be a positive integer"),
    ]


def test_catalogue(monkeypatch, capsys, tmp_path, out):
    import torch

    for args, message in catalogue(tmp_path, out):
        if "cuda:3" in args and torch.cuda.is_available():
            continue
        code, _, stderr = run_cli(monkeypatch, capsys, *args)
        err = stderr.strip().splitlines()
        assert code not in (0, None), args
        assert any(message in line for line in err), (args, stderr)
        assert "Traceback" not in stderr, args
        assert not out.exists() or not any(out.rglob("manifest.json")), args
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


def test_debug_shows_the_traceback(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(sys, "argv", ["mdlm-eval", "--debug", "run", "--decoder", "nope"])
    with pytest.raises(UsageError, match="unknown decoder"):
        cli.main()


def test_lm_eval_command_gives_one_line(tmp_path):
    proc = subprocess.run([str(Path(sys.executable).parent / "lm_eval"), "--model", "mdlm", "--model_args",
                           "pretrained=toy,decoder=nope", "--tasks", "mdlm_toy_countdown", "--limit", "2"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("lm_eval: error: unknown decoder 'nope'")
    assert "Traceback" not in proc.stderr


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_decoder_yaml_reader_never_crashes(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("yaml") / "fuzz.yaml"
    path.write_text(text)
    try:
        load_spec(path)
    except UsageError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["schedule", "steps", "block_length", "block_num", "remasking", "eos_policy",
                                        "temperature", "eos_min_gamma", "cfg_scale", "bogus"]),
                       st.one_of(st.integers(-5, 600), st.floats(allow_nan=True), st.text(max_size=8), st.none(),
                                 st.lists(st.integers(), max_size=2))))
def test_decoder_fields_fuzz(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("yaml") / "fuzz.yaml"
    path.write_text(yaml.safe_dump(values))
    try:
        spec = load_spec(path)
    except UsageError:
        return
    from mdlm_eval.decoding import make_plan

    for gen_length in (1, 32, 100):
        try:
            plan = make_plan(spec, gen_length)
        except UsageError:
            continue
        assert sum(s.k for s in plan) == gen_length


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_store_survives_any_bytes(tmp_path_factory, junk):
    folder = tmp_path_factory.mktemp("store")
    (folder / "rank0.jsonl").write_bytes(b'{"key": "a", "text": "ok"}\n' + junk)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        SampleStore(folder).put_many([{"key": "b", "text": "new"}])
        assert SampleStore(folder).get("b") == {"key": "b", "text": "new"}


@pytest.mark.parametrize("args,message", [
    ([], "missing command: run | decoders"),
    (["runn"], "No such command 'runn'"),
    (["run", "--limt", "5"], "No such option: --limt"),
    (["run", "--limit", "abc"], "Invalid value for '--limit'"),
    (["run", "--decoder"], "'--decoder' requires an argument"),
    (["rescore"], "Missing argument 'paths'"),
    (["decoders", "--gen-lengths", "abc"], "--gen-lengths must be comma-separated integers"),
    (["toy"], "missing command: train | path"),
])
def test_command_line_mistakes_are_one_line_exit_2(monkeypatch, capsys, args, message):
    """Whatever click the installed typer uses (its own vendored copy in typer >= 0.20)."""
    code, stdout, stderr = run_cli(monkeypatch, capsys, *args)
    assert code == 2, (args, stderr)
    assert stderr.count("\n") == 1 and stderr.startswith("mdlm-eval: error: ") and message in stderr, stderr
    assert stdout == ""


def test_decoders_names_the_preset_that_cannot_take_a_length(monkeypatch, capsys):
    code, stdout, _ = run_cli(monkeypatch, capsys, "decoders", "--gen-lengths", "32,100")
    assert code == 0
    assert "semi_ar cannot decode L=100: block_length 32 must be a positive divisor of gen_length 100" in stdout
    assert "eoser_ass cannot decode" not in stdout  # ascending step sizes take any L >= 2
