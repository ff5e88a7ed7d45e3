"""The `mdlm-eval` command line. Thin: each command parses its options and calls one library function."""
from __future__ import annotations

import sys
from pathlib import Path

import click
import typer

from mdlm_eval.errors import UsageError

app = typer.Typer(
    name="mdlm-eval",
    help="Evaluate masked diffusion language models under swappable decoders.",
    no_args_is_help=False,  # a bare command is a one-line usage error, not a page of help (see usage_line)
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


def _click_exceptions(name: str) -> tuple[type, ...]:
    """`name` from click and from the copy of click that newer typer releases vendor (typer._click)."""
    found = [getattr(click.exceptions, name, None)]  # NoArgsIsHelpError is new in click 8.2
    try:
        from typer import _click as vendored

        found.append(getattr(vendored.exceptions, name, None))
    except ImportError:
        pass
    return tuple(e for e in found if e is not None)


def usage_line(error: Exception) -> str:
    """One line for a command-line mistake: a missing command names the commands, anything else keeps click's
    own first line (`No such option: --limt Did you mean --limit?`)."""
    ctx = getattr(error, "ctx", None)
    missing = isinstance(error, _click_exceptions("NoArgsIsHelpError")) or error.format_message() == "Missing command."
    if missing and ctx is not None:
        commands = getattr(ctx.command, "list_commands", None)
        if commands is not None:
            return f"missing command: {' | '.join(commands(ctx))} (see {ctx.command_path} --help)"
        return f"missing arguments (see {ctx.command_path} --help)"
    message = (error.format_message().strip().splitlines() or [type(error).__name__])[0]
    return f"{ctx.command_path}: {message}" if ctx is not None and ctx.command_path != "mdlm-eval" else message


def main() -> None:
    """Entry point: command-line mistakes and `UsageError` become one line and exit code 2 (a traceback with
    --debug), whichever click typer uses."""
    try:
        code = app(standalone_mode=False, prog_name="mdlm-eval")
    except _click_exceptions("Abort"):
        sys.exit(130)
    except _click_exceptions("ClickException") as e:
        typer.echo(f"mdlm-eval: error: {usage_line(e)}", err=True)
        sys.exit(2)
    except UsageError as e:
        if _state["debug"]:
            raise
        typer.echo(f"mdlm-eval: error: {e}", err=True)
        sys.exit(2)
    sys.exit(code or 0)


# ---- commands (each a thin wrapper around one library function) ----


@app.command()
def run(
    model: str = typer.Option("toy", "--model", help="Hugging Face folder or hub id of an MDLM, or `toy`."),
    peft: str = typer.Option(None, "--peft", help="LoRA adapter folder or hub id, merged into the model."),
    decoder: str = typer.Option("eoser_ass", "--decoder", help="Preset name (decoders/*.yaml) or a YAML path."),
    steps: str = typer.Option(None, "--steps", help="Forward passes: an int, log, half or full (default: the preset's)."),
    gen_length: int = typer.Option(None, "--gen-length", help="Tokens generated (default: the toy's, else 256)."),
    block_length: int = typer.Option(None, "--block-length", help="Semi-autoregressive block length."),
    sub_block_length: int = typer.Option(None, "--sub-block-length", help="fast_dllm_v2: tokens per sub-block of a block (default: the preset's)."),
    block_num: int = typer.Option(None, "--block-num", help="Ascending step sizes: number of blocks."),
    temperature: float = typer.Option(None, "--temperature", help="Sampling temperature (default: the preset's, 0)."),
    cache: str = typer.Option(None, "--cache", help="Block cache: none, prefix or dual (Fast-dLLM; default: the preset's, none)."),
    threshold: float = typer.Option(None, "--threshold", help="Confidence threshold of the threshold and wino rules (default: the preset's)."),
    tasks: str = typer.Option(None, "--tasks", help="Comma-separated tasks (default: mdlm_toy for the toy, else mdlm_reasoning)."),
    limit: float = typer.Option(None, "--limit", help="Samples per task (an int), or a fraction below 1."),
    batch_size: str = typer.Option("8", "--batch-size", help="Batch size, or auto."),
    output_path: str = typer.Option("runs", "--output-path", help="Folder for run folders (runs/ is not tracked by git; the shipped toy grid is in results/)."),
    seed: int = typer.Option(0, "--seed", help="Seed of lm-eval and of per-sample sampling noise."),
    trace: bool = typer.Option(False, "--trace", help="Record when each position was unmasked (decoding-order plots)."),
    device: str = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: cuda when present)."),
    native: bool = typer.Option(True, "--native/--no-native", help="LLaDA and Dream checkpoints: the native implementation (default) or the checkpoint's own code."),
    templates: str = typer.Option(None, "--templates", help="Prompt templates of the project's tasks: default, plain, question_first, comma-separated, or all (one run each)."),
) -> None:
    """Evaluate one model under one decoder and step budget (lm-eval underneath)."""
    from dataclasses import replace

    from mdlm_eval.runner import RunConfig, print_summary, run_evaluation
    from mdlm_eval.templates import resolve

    config = RunConfig(
        model=model, peft=peft, decoder=decoder, steps=steps, gen_length=gen_length, block_length=block_length,
        sub_block_length=sub_block_length, block_num=block_num, temperature=temperature, cache=cache, threshold=threshold, tasks=tasks.split(",") if tasks else None,
        limit=int(limit) if limit is not None and limit >= 1 else limit,
        batch_size=batch_size if batch_size == "auto" or not batch_size.isdigit() else int(batch_size),
        output_path=output_path, seed=seed,
        trace=trace, device=device, native=native,
    )
    for template in resolve(templates, config.resolved_tasks()):
        config = replace(config, template=template)
        try:
            manifest = run_evaluation(config)
        except KeyboardInterrupt:  # Ctrl-C: one line, what is saved and how to go on
            from mdlm_eval.messages import interrupted
            from mdlm_eval.runner import run_dir

            typer.echo(f"\n{interrupted(run_dir(config) / 'store', sys.argv[1:])}", err=True)
            raise typer.Exit(130) from None
        if manifest:
            print_summary(manifest)


@app.command()
def decoders(
    gen_lengths: str = typer.Option("128,256,512", "--gen-lengths", help="Comma-separated canvas lengths L."),
) -> None:
    """List the decoder presets (decoders/*.yaml) and their forward passes per sample at each L."""
    from mdlm_eval.decoding import load_spec, planned_nfe, preset_names
    from mdlm_eval.terminal import fit

    try:
        lengths = [int(n) for n in gen_lengths.split(",")]
    except ValueError:
        raise UsageError(f"--gen-lengths must be comma-separated integers, got {gen_lengths!r}") from None
    rows = []
    refused = []  # (preset, L, why): a preset whose layout cannot take a length
    for name in preset_names():
        spec = load_spec(name)
        cells = []
        for n in lengths:
            try:
                nfe = planned_nfe(spec, n)
            except UsageError as e:
                refused.append((name, n, str(e)))
                cells.append("-")
                continue
            cells.append("adaptive" if nfe is None else str(nfe))
        rows.append([name, *cells, spec.description])
    typer.echo(fit(["preset", *[f"NFE at L={n}" for n in lengths], "what it is"], rows))
    for name, n, why in refused:
        typer.echo(f"{name} cannot decode L={n}: {why}")


# ---- toy: the CPU-sized MDLM (mdlm_eval.models.toy) ----

toy_app = typer.Typer(help="The toy MDLM: a small LLaDA-like model for 4x4 Sudoku and Countdown that runs on a CPU.",
                      no_args_is_help=False)
app.add_typer(toy_app, name="toy")


@toy_app.command("train")
def toy_train(
    out: str = typer.Option(..., "--out", help="New (or empty) folder for the checkpoint, loss.tsv and training_args.json."),
    steps: int = typer.Option(None, "--steps", help="Optimizer steps (default: the shipped checkpoint's)."),
    seed: int = typer.Option(0, "--seed", help="Seed for data, masking and initialisation."),
) -> None:
    """Train the toy from scratch (LLaDA SFT recipe); the defaults rebuild the shipped checkpoint."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from mdlm_eval.models.toy import TrainConfig, train
    from mdlm_eval.models.toy.train import check_output_dir

    n = TrainConfig.steps if steps is None else steps
    if n <= 0:
        raise UsageError(f"--steps must be a positive integer, got {n}")
    check_output_dir(out)
    with Progress(TextColumn("toy train"), BarColumn(), TextColumn("{task.completed}/{task.total} loss {task.fields[loss]}"),
                  TimeElapsedColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("train", total=n, loss="-")
        folder = train(out, steps=n, seed=seed,
                       progress=lambda step, loss: bar.update(task, completed=step, loss=f"{loss:.4f}"))
    typer.echo(f"checkpoint written to {folder} (loss log: {folder / 'loss.tsv'})")


# ---- train: CJ-GRPO and diffu-GRPO LoRA training (mdlm_eval.training) ----

train_app = typer.Typer(help="RL training with LoRA: CJ-GRPO (trajectory-consistent) and its baseline diffu-GRPO (d1).",
                        no_args_is_help=True)
app.add_typer(train_app, name="train")


def _train_command(method: str, model, task, steps, out, config, peft, resume, seed, dry_run=False,
                   processes=None) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from mdlm_eval import third_party
    from mdlm_eval.training.config import config_path, default_config, load_config
    from mdlm_eval.training.trainer import check_config, check_out, train

    if resume and out and (Path(out) / "config.yaml").is_file():  # the run's own hyperparameters; --steps may extend it
        cfg = load_config(Path(out) / "config.yaml", steps=steps)
        source = f"{Path(out) / 'config.yaml'} (the run's own)"
    else:
        chosen = config or default_config(model)  # the toy gets the toy's config unless one is given
        cfg = load_config(chosen, method=method, model=model, task=task, steps=steps, seed=seed)
        if chosen is None:
            source = "built-in defaults (the paper's LLaDA settings; --config to choose a file)"
        else:
            source = str(config_path(chosen)) + ("" if config else f" (the default for {cfg.model}; --config to choose another)")
    check_config(cfg)  # bad input stops here, before the progress bar and any model loading
    if dry_run:
        import os

        from mdlm_eval.training.plan import plan

        typer.echo("\n".join(plan(cfg, processes or int(os.environ.get("WORLD_SIZE", 1)))))
        return
    check_out(Path(out), resume)
    typer.echo(f"config: {source}")
    columns = (TextColumn(method), BarColumn(), TextColumn("{task.completed}/{task.total} reward {task.fields[reward]}"
                                                          " kl {task.fields[kl]} loss {task.fields[loss]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns) as bar:
        job = bar.add_task("train", total=cfg.steps, reward="-", kl="-", loss="-")

        def progress(step: int, stats: dict) -> None:
            bar.update(job, completed=step, reward=f"{stats['reward']:.3f}", kl=f"{stats['kl']:.4f}",
                       loss=f"{stats['loss']:.4f}")

        with third_party.to_log(Path(out) / "train.log") as notes:  # library warnings: to the file, not the screen
            adapter = train(cfg, out, peft=peft, resume=resume, progress=progress)
    typer.echo(f"adapter written to {adapter} (log: {adapter.parent / 'log.tsv'}, curves: {adapter.parent / 'curves.png'}"
               + (f"; {len(notes)} library warning(s) in {adapter.parent / 'train.log'})" if notes else ")"))


def _make_train_command(method: str):
    def command(
        model: str = typer.Option(None, "--model", help="Base model: `toy`, a folder or a hub id (default: the config's)."),
        task: str = typer.Option(None, "--task", help="Training task: mdlm_toy_countdown, mdlm_toy_sudoku, mdlm_toy, or d1's "
                                                   "training sets d1_countdown, d1_sudoku, d1_gsm8k, d1_math, or SPG's "
                                                   "Sudoku split spg_sudoku."),
        steps: int = typer.Option(None, "--steps", help="Optimizer steps."),
        out: str = typer.Option(None, "--out", help="New (or empty) folder for config.yaml, log.tsv, checkpoints and adapter/."),
        config: str = typer.Option(None, "--config", help="YAML of hyperparameters (a path, or `toy`; default: `toy` for the toy model, else the paper's LLaDA settings); flags override it."),
        peft: str = typer.Option(None, "--peft", help="Continue training this LoRA adapter (folder or shipped name)."),
        resume: bool = typer.Option(False, "--resume", help="Resume the run in --out from its last checkpoint."),
        seed: int = typer.Option(None, "--seed", help="Seed for prompts, rollouts and initialisation."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the global batch, the steps and the expected "
                                     "memory per process (from config.json, no weights loaded), then stop."),
        processes: int = typer.Option(None, "--processes", help="With --dry-run: processes (GPUs) the run will use "
                                      "(default $WORLD_SIZE or 1)."),
    ) -> None:
        if out is None and not dry_run:
            raise UsageError("--out is required (a new or empty folder), except with --dry-run")
        _train_command(method, model, task, steps, out, config, peft, resume, seed, dry_run, processes)

    command.__doc__ = {"cj-grpo": "CJ-GRPO: the loss on every decoding step of each rollout (arXiv 2509.23924).",
                       "diffu-grpo": "diffu-GRPO: d1's one-step log-probability estimate (baseline)."}[method]
    return command


for _method in ("cj-grpo", "diffu-grpo"):
    train_app.command(_method)(_make_train_command(_method))


@train_app.command("report")
def train_report(
    folders: list[Path] = typer.Argument(..., help="Folders of `mdlm-eval run` evaluations of adapters (and the base)."),
    out: Path = typer.Option(..., "--out", help="Folder for scores.csv, table.md, curves.png and logs/."),
) -> None:
    """Seeds of training runs scored on the test items: mean +- SE across seeds, paired differences to the base,
    curves (greedy; sampled mean and pass@k from `<task>_sampled` runs)."""
    from mdlm_eval.training.study import report

    for path in report(folders, out):
        typer.echo(f"written {path}")


@toy_app.command("path")
def toy_path() -> None:
    """Print the folder of the shipped toy checkpoint."""
    from mdlm_eval.models.toy import checkpoint_path

    typer.echo(str(checkpoint_path()))


@app.command()
def rescore(
    paths: list[str] = typer.Argument(..., help="d1 *_generations.json or lm-eval samples_*.jsonl files, or folders."),
    fmt: str = typer.Option("d1", "--format", help="d1 (d1's generation files) or samples (lm-eval samples)."),
    task: str | None = typer.Option(None, "--task", help="gsm8k, math500, countdown or sudoku (default: from the name)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Score saved generations again: d1's accuracy (acc) and the task's robust metric."""
    import json

    from mdlm_eval.rescore import rescore as rescore_files
    from mdlm_eval.rescore import table

    report = rescore_files(paths, fmt=fmt, task=task)
    if as_json:
        typer.echo(json.dumps(report.setups))
    elif report.setups:
        typer.echo(table(report.setups))
    for error in report.errors:
        typer.echo(f"mdlm-eval: error: {error}", err=True)
    if report.errors:
        raise typer.Exit(2)


# ---- sweeps and the leaderboard (mdlm_eval.sweep, mdlm_eval.leaderboard) ----


@app.command()
def sweep(
    grid: str = typer.Argument(..., help="Grid YAML file (see sweeps/)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the cells and their NFE per sample; run nothing."),
    output_path: str = typer.Option("runs", "--output-path", help="Folder for run folders (runs/ is not tracked by git; the shipped toy grid is in results/)."),
) -> None:
    """Run every cell of a grid of models x decoders x steps x lengths; complete cells are skipped."""
    from mdlm_eval.sweep import check_tasks, dry_run_table, load_grid, plan_cells, run_sweep

    parsed = load_grid(grid)
    cells = plan_cells(parsed, output_path)
    if dry_run:
        typer.echo(dry_run_table(cells))
        return
    check_tasks(parsed)
    result = run_sweep(cells, lambda i, cell, event, detail: typer.echo(
        f"[{i + 1}/{len(cells)}] {cell.label}: {event}" + (f" ({detail})" if event != "running" else ""),
        err=event == "failed"))
    typer.echo(f"sweep: {len(result.done)} run, {len(result.skipped)} skipped (complete), {len(result.failed)} failed")
    for cell, message in result.failed:
        typer.echo(f"mdlm-eval: error: cell {cell.label} failed: {message}", err=True)
    if result.failed:
        raise typer.Exit(1)


@app.command()
def compare(
    run_a: str = typer.Argument(..., help="Run folder A (or its results_*.json)."),
    run_b: str = typer.Argument(..., help="Run folder B, scored on the same documents."),
) -> None:
    """Paired difference B - A per task metric on the shared documents, with a 95% bootstrap interval."""
    from mdlm_eval.paired import compare_runs, report

    typer.echo("\n".join(report(compare_runs(run_a, run_b), run_a, run_b)))


@app.command()
def audit(
    model: str = typer.Option("toy", "--model", help="Hugging Face folder or hub id of an MDLM, or `toy`."),
    peft: str = typer.Option(None, "--peft", help="LoRA adapter folder or hub id, merged into the model."),
    decoder: str = typer.Option("eoser_ass", "--decoder", help="Preset name (decoders/*.yaml) or a YAML path."),
    tasks: str = typer.Option(None, "--tasks", help="Comma-separated tasks (default: mdlm_toy for the toy, else mdlm_reasoning)."),
    limit: int = typer.Option(4, "--limit", help="Documents per task."),
    batch_size: int = typer.Option(4, "--batch-size", help="The batch compared against batch size 1 (at least 2)."),
    steps: str = typer.Option(None, "--steps", help="Forward passes: an int, log, half or full (default: the preset's)."),
    gen_length: int = typer.Option(None, "--gen-length", help="Tokens generated (default: the toy's, else 256)."),
    block_length: int = typer.Option(None, "--block-length", help="Semi-autoregressive block length."),
    cache: str = typer.Option(None, "--cache", help="Block cache: none, prefix or dual (default: the preset's)."),
    processes: bool = typer.Option(True, "--processes/--no-processes", help="Also compare one process against two (torchrun)."),
    device: str = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: cuda when present)."),
) -> None:
    """Same answers at batch 1 and B, in one and two processes, cached and not, resumed and fresh; lm-eval's score
    against the rescored generations; no all-zero metric, masks left or missing answers. Exit 1 if a check fails."""
    from mdlm_eval.audit import audit as run_audit
    from mdlm_eval.runner import RunConfig

    config = RunConfig(model=model, peft=peft, decoder=decoder, steps=steps, gen_length=gen_length,
                       block_length=block_length, cache=cache, tasks=tasks.split(",") if tasks else None,
                       limit=limit, device=device)
    checks = run_audit(config, batch_size=batch_size, processes=processes, report=lambda c: typer.echo(c.line()))
    failed = [c for c in checks if c.ok is False]
    typer.echo(f"audit: {sum(c.ok is True for c in checks)} passed, {len(failed)} failed, "
               f"{sum(c.ok is None for c in checks)} skipped")
    if failed:
        raise typer.Exit(1)


@app.command()
def leaderboard(
    results_dir: str = typer.Argument("runs", help="Folder searched for lm-eval results_*.json files (the shipped toy grid: results)."),
    out: str = typer.Option(None, "--out", help="Folder for leaderboard.{md,csv,html} and plots (default: RESULTS_DIR)."),
    reference: str = typer.Option(None, "--reference", help="Folder of published-number CSVs (default: results/reference of the project)."),
    png: str = typer.Option(None, "--png", help="Also render the page's first screen (1366x768) to this PNG with headless Chromium."),
) -> None:
    """Tables and plots of every run under a folder, beside the published numbers."""
    from mdlm_eval.leaderboard import REFERENCE_DIR, build_leaderboard, chromium, screenshot

    if png and chromium() is None:
        raise UsageError("--png needs Chromium (install Debian's `chromium` package)")
    written = build_leaderboard(results_dir, out or results_dir, reference or REFERENCE_DIR,
                                warn=lambda message: typer.echo(f"mdlm-eval: warning: {message}", err=True))
    typer.echo(f"wrote {len(written)} files: " + ", ".join(str(p) for p in written if p.suffix != ".png")
               + f" and {sum(p.suffix == '.png' for p in written)} plots")
    if png:
        typer.echo(f"rendered {screenshot(f'{out or results_dir}/leaderboard.html', png)}")
