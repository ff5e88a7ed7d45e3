"""The `mdlm-eval` command line. Thin: each command parses its options and calls one library function."""
from __future__ import annotations

import sys

import click
import typer

from mdlm_eval.errors import UsageError

app = typer.Typer(
    name="mdlm-eval",
    help="Evaluate masked diffusion language models under swappable decoders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show the full traceback on errors.")) -> None:
    _state["debug"] = debug


_state = {"debug": False}


def fail(message: str, code: int = 2) -> None:
    """Print one line to stderr and exit with `code`."""
    typer.echo(f"mdlm-eval: error: {message}", err=True)
    raise typer.Exit(code)


def main() -> None:
    """Entry point: turn `UsageError` into one line and exit code 2 (a traceback with --debug)."""
    try:
        code = app(standalone_mode=False)
    except click.ClickException as e:  # bad options: click's own one-line message
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except UsageError as e:
        if _state["debug"]:
            raise
        typer.echo(f"mdlm-eval: error: {e}", err=True)
        sys.exit(2)
    sys.exit(code or 0)


# ---- commands (each a thin wrapper around one library function) ----
