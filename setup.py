"""Packaging steps pyproject.toml cannot express.

- `mdlm_eval.pth` goes beside the package (wheel and editable installs; see _mdlm_eval_hook.py).
- A wheel carries copies of the top-level `tasks/`, `decoders/` and `results/reference/` under
  `mdlm_eval/_data/` (found through `mdlm_eval.paths`), so an installed package runs its defaults from any
  folder; in a checkout the top-level folders themselves are used, and they stay what users read and edit.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

ROOT = Path(__file__).resolve().parent
PTH = ROOT / "mdlm_eval.pth"
SHIPPED = ("tasks", "decoders", "results/reference")  # copied to mdlm_eval/_data/<same path>


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        self.copy_file(str(PTH), str(Path(self.build_lib) / PTH.name))
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's folders
        for folder in SHIPPED:
            target = Path(self.build_lib) / "mdlm_eval" / "_data" / folder
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(ROOT / folder, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


class EditableWheelWithPth(editable_wheel):
    def _run_build_commands(self, dist_name, unpacked_wheel, build_lib, tmp_dir):
        result = super()._run_build_commands(dist_name, unpacked_wheel, build_lib, tmp_dir)
        self.copy_file(str(PTH), str(Path(unpacked_wheel) / PTH.name))
        return result


setup(cmdclass={"build_py": BuildPyWithData, "editable_wheel": EditableWheelWithPth})
