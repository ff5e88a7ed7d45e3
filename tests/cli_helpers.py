"""Running the `mdlm-eval` command in-process, as a user would type it."""
import sys

import pytest

from mdlm_eval import cli


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `mdlm-eval ARGS...` through `cli.main`."""
    monkeypatch.setattr(sys, "argv", ["mdlm-eval", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err
