"""Every argument checked before anything heavy loads: each mistake is one line, and torch, transformers and
lm-eval are never imported to find it (the answer times against `import torch` are in `make bench`)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mdlm_eval import early_checks
from mdlm_eval.errors import UsageError

HEAVY = ("torch", "transformers", "lm_eval", "peft", "datasets")
MISTAKES = """
import contextlib, io, json, sys
from mdlm_eval import cli
from mdlm_eval.early_checks import check_model_args
from mdlm_eval.errors import UsageError
answers = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            if argv[0] == "lm_eval":
                check_model_args(dict(a.split("=", 1) for a in argv[1:]))
            else:
                sys.argv = ["mdlm-eval", *argv]
                cli.main()
        except UsageError as e:
            print(f"lm_eval: error: {e}", file=sys.stderr)
        except SystemExit as e:
            print(f"exit {e.code}", file=sys.stderr)
    answers.append(err.getvalue())
print(json.dumps({"answers": answers, "heavy": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


def test_each_mistake_is_one_line_before_any_heavy_import(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "runs"
    o = ["--output-path", str(out)]
    cases = [
        (["run", "--decoder", "nope", *o], "unknown decoder 'nope'; presets: ass,"),
        (["run", "--decoder", str(tmp_path / "mine.yaml"), *o], f"decoder file {tmp_path / 'mine.yaml'} does not exist"),
        (["run", "--steps", "0", *o], "steps must be between 1 and gen_length (32), got 0\n"),
        (["run", "--decoder", "semi_ar", "--steps", "2", *o], "steps 2 is fewer than the 4 blocks of 8 tokens"),
        (["run", "--decoder", "wino", "--cache", "prefix", *o], "commit wino runs its own forward pass, which takes no cache"),
        (["run", "--model", str(tmp_path / "missing"), *o], f"model folder {tmp_path / 'missing'} does not exist"),
        (["run", "--model", str(empty), *o], f"model folder {empty} lacks config.json"),
        (["run", "--peft", str(tmp_path / "gone"), *o], f"adapter folder {tmp_path / 'gone'} does not exist\n"),
        (["run", "--peft", str(empty), *o], f"adapter folder {empty} lacks adapter_config.json"),
        (["lm_eval", "decodr=semi_ar"], "unknown model argument decodr for mdlm; did you mean decoder? the mdlm model"),
        (["lm_eval", "block_lenght=8"], "unknown model argument block_lenght for mdlm; did you mean block_length?"),
        (["lm_eval", "decoder=wino", "cache=dual"], "commit wino runs its own forward pass"),
        (["lm_eval", "decoder=semi_ar", "steps=2", "gen_length=32"], "steps 2 is fewer than the 4 blocks of 8 tokens"),
        (["lm_eval", f"pretrained={tmp_path / 'missing'}"], "does not exist"),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", MISTAKES, json.dumps([argv for argv, _ in cases])],
                          capture_output=True, text=True, timeout=120, env=env, check=True)
    result = json.loads(done.stdout.splitlines()[-1])
    for (argv, message), answer in zip(cases, result["answers"]):
        prefix = "lm_eval: error: " if argv[0] == "lm_eval" else "mdlm-eval: error: "
        lines = [line for line in answer.splitlines() if not line.startswith("exit")]
        assert len(lines) == 1 and lines[0].startswith(prefix), (argv, answer)
        assert message in answer, (argv, answer)
        assert "(0)" not in answer and "does not fit" not in answer
    assert result["heavy"] == []  # none of torch, transformers, lm-eval, peft, datasets was imported
    assert not out.exists()


def test_an_adapter_needs_peft(monkeypatch, tmp_path):
    adapter = tmp_path / "a"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    real = early_checks.importlib.util.find_spec
    monkeypatch.setattr(early_checks.importlib.util, "find_spec", lambda name, *a: None if name == "peft" else real(name, *a))
    with pytest.raises(UsageError, match=r"--peft .*/a needs the peft package \(pip install peft\)"):
        early_checks.check_weights("toy", str(adapter))


def test_lm_eval_answers_before_its_tasks_and_model(tmp_path):
    lm_eval = shutil.which("lm_eval", path=str(Path(sys.executable).parent))
    done = subprocess.run([lm_eval, "--model", "mdlm", "--model_args", "pretrained=toy,decodr=semi_ar", "--tasks",
                           "mdlm_toy_countdown", "--output_path", str(tmp_path / "o")], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("lm_eval: error: unknown model argument decodr for mdlm; did you mean decoder?")


def test_the_model_arguments_are_the_models():
    import inspect

    from mdlm_eval.lm_eval_model import DECODER_FIELDS, MDLMLM

    params = [p.name for p in inspect.signature(MDLMLM.__init__).parameters.values()
              if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"]
    assert tuple(params) == early_checks.MODEL_ARGS
    assert set(DECODER_FIELDS) == set(early_checks.decoder_args())


def test_the_torch_free_layout_and_cache_checks_match_the_decoders():
    from mdlm_eval.decoding.cache import own_forward
    from mdlm_eval.decoding.commit import COMMIT_RULES, DreamGrid
    from mdlm_eval.decoding.schedule import ONE_BLOCK_COMMITS
    from mdlm_eval.decoding.spec import OWN_FORWARD_COMMITS, DecoderSpec

    for name, rule in COMMIT_RULES.items():
        assert (name in OWN_FORWARD_COMMITS) == own_forward(rule.__new__(rule))
        assert (name in ONE_BLOCK_COMMITS) == issubclass(rule, DreamGrid)
    with pytest.raises(UsageError, match="cache=prefix does not combine with classifier-free guidance"):
        DecoderSpec(cache="prefix", cfg_scale=1.0)
