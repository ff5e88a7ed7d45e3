"""A wheel, as `pip install` makes one, installed into a temporary folder and used from another folder: the
shipped presets, tasks, published numbers and toy checkpoint come with it, and `lm_eval` finds the model."""
import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def sh(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh interpreter environment whose only mdlm-eval is the wheel, installed with `pip install --target`
    into its site-packages (so its .pth hook is read as after `pip install`); the dependencies are this
    environment's, added by path only (their own .pth files, and with them this checkout, are not read)."""
    root = tmp_path_factory.mktemp("install")
    build = sh([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                str(root / "dist"), str(REPO)])
    assert build.returncode == 0, build.stderr[-2000:]
    env = root / "env"
    assert sh([sys.executable, "-m", "venv", "--without-pip", str(env)]).returncode == 0
    python = env / "bin" / "python"
    site = Path(sh([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next((root / "dist").glob("mdlm_eval-*.whl"))
    install = sh([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)])
    assert install.returncode == 0, install.stderr[-2000:]
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return python, site, elsewhere


def test_the_wheel_ships_what_the_defaults_need(installed):
    _, site, _ = installed
    data = site / "mdlm_eval" / "_data"
    for folder in ("decoders", "tasks", "results/reference"):
        shipped = {p.relative_to(REPO / folder) for p in (REPO / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts}
        assert shipped and shipped <= {p.relative_to(data / folder) for p in (data / folder).rglob("*")}, folder
    toy = site / "mdlm_eval" / "models" / "toy" / "checkpoint"
    assert {"model.safetensors", "config.json", "tokenizer.json", "modeling_mdlm_toy.py"} <= {p.name for p in toy.iterdir()}
    assert (site / "mdlm_eval.pth").read_text().strip() == "import _mdlm_eval_hook"
    for name in ("toy-cj-grpo", "toy-diffu-grpo"):  # the shipped adapters, addressable by name
        adapter = site / "mdlm_eval" / "models" / "toy" / "adapters" / name
        assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in adapter.iterdir()}
    assert (site / "mdlm_eval" / "training" / "configs" / "toy.yaml").is_file()


def test_installed_wheel_runs_the_default_job_from_another_folder(installed):
    python, site, elsewhere = installed
    proc = sh([str(python), "-m", "mdlm_eval", "run", "--limit", "1"], cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads(next((elsewhere / "runs").rglob("manifest.json")).read_text())
    assert manifest["status"] == "complete" and manifest["samples"] == 2 and manifest["decoder"] == "eoser_ass"
    assert manifest["git_commit"] is None  # an installed package has no commit of this project


def test_lm_eval_finds_the_model_and_tasks_of_the_installed_wheel(installed):
    python, site, elsewhere = installed
    proc = sh([str(python), "-m", "lm_eval", "--model", "mdlm", "--tasks", "mdlm_toy_countdown", "--limit", "1"],
              cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mdlm_toy_countdown" in proc.stdout


def test_the_hook_hands_lm_evals_loader_through_and_never_breaks_it():
    """What `python -m` (runpy) and other tools ask of a loader reaches lm-eval's own; a patch that fails warns."""
    import importlib.util

    import lm_eval.tasks

    import _mdlm_eval_hook as hook

    spec = hook._Finder().find_spec("lm_eval.tasks.manager", lm_eval.tasks.__path__)
    assert isinstance(spec.loader, hook._PatchingLoader)
    assert spec.loader.get_code("lm_eval.tasks.manager").co_filename.endswith("manager.py")
    assert spec.loader.get_filename("lm_eval.tasks.manager") == spec.origin
    assert spec.loader.is_package("lm_eval.tasks.manager") is False

    spec.loader.patch = lambda module: 1 / 0
    module = importlib.util.module_from_spec(spec)
    with pytest.warns(UserWarning, match="could not extend lm_eval.tasks.manager: ZeroDivisionError"):
        spec.loader.exec_module(module)
    assert hasattr(module, "TaskManager")
