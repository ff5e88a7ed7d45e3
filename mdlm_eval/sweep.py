"""Sweeps: a grid of models x decoders x step budgets x generation lengths, each cell one ordinary run.

A grid file (see `sweeps/*.yaml`) is validated in full before anything runs: unknown keys, unknown presets
and cells the decoder cannot take (ASS with steps other than log2 L, blocks that do not divide L, ...) are a
`UsageError` naming the cell. Running skips cells whose run folder already holds a complete manifest,
reports a failed cell and goes on with the rest.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, Callable


from mdlm_eval.decoding import load_spec, planned_nfe
from mdlm_eval.decoding.spec import STEP_WORDS
from mdlm_eval.errors import UsageError
from mdlm_eval.model_files import local_config, trained_block_length
from mdlm_eval.yaml_file import read_mapping
from mdlm_eval.runner import DEFAULT_OUTPUT, RunConfig, run_dir, run_evaluation
from mdlm_eval.terminal import fit

GRID_KEYS = ("models", "decoders", "steps", "gen_lengths", "tasks", "limit", "batch_size", "seed", "trace", "exclude",
             "templates")
REQUIRED_KEYS = ("models", "decoders", "steps", "gen_lengths", "tasks")
MODEL_KEYS = ("name", "path", "peft")
DECODER_KEYS = ("preset", "block_length", "block_num", "temperature", "threshold", "cache")
RULE_KEYS = ("model", "peft", "decoder", "steps", "gen_length")


@dataclass(frozen=True)
class Decoder:
    """A preset and the RunConfig overrides a grid gives it."""

    preset: str
    block_length: int | None = None
    block_num: int | None = None
    temperature: float | None = None
    threshold: float | None = None
    cache: str | None = None

    def overrides(self) -> dict[str, Any]:
        return {"block_length": self.block_length, "block_num": self.block_num, "temperature": self.temperature,
                "threshold": self.threshold, "cache": self.cache}


@dataclass(frozen=True)
class Grid:
    """A parsed grid file; `cells()` expands it."""

    source: str
    models: list[tuple[str, str | None]]
    decoders: list[Decoder]
    steps: list[int | str]
    gen_lengths: list[int]
    tasks: list[str]
    limit: int | float | None = None
    batch_size: int | str = 8
    seed: int = 0
    trace: bool = False
    exclude: list[dict[str, list[Any]]] = field(default_factory=list)
    templates: list[str] = field(default_factory=lambda: ["default"])


@dataclass(frozen=True)
class Cell:
    """One run of a sweep, with its decode cost."""

    config: RunConfig
    nfe_per_sample: int | str  # "adaptive" when decided while decoding

    @property
    def folder(self) -> Path:
        return run_dir(self.config)

    @property
    def label(self) -> str:
        label = cell_label(self.config.model, self.config.peft, Decoder(
            self.config.decoder, self.config.block_length, self.config.block_num, self.config.temperature,
            self.config.threshold, self.config.cache,
        ), self.config.steps, self.config.gen_length)
        return label + ("" if self.config.template == "default" else f" template={self.config.template}")


@dataclass
class SweepResult:
    done: list[Cell] = field(default_factory=list)
    skipped: list[Cell] = field(default_factory=list)
    failed: list[tuple[Cell, str]] = field(default_factory=list)


def cell_label(model: str, peft: str | None, decoder: Decoder, steps: Any, gen_length: Any) -> str:
    """`model[+peft] decoder[(overrides)] steps=S L=L`: how errors and listings name a cell."""
    extra = ",".join(f"{k}={v}" for k, v in decoder.overrides().items() if v is not None)
    name = decoder.preset + (f"({extra})" if extra else "")
    return f"{model}{'+' + peft if peft else ''} {name} steps={steps} L={gen_length}"


# ---- reading and validating a grid file ----


def load_grid(path: str | Path) -> Grid:
    """Parse and check a grid YAML file (schema in `sweeps/toy.yaml` and docs)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"grid file {path} does not exist")
    raw = read_mapping(path, f"grid file {path}", f"hold a mapping with keys {', '.join(REQUIRED_KEYS)}",
                       empty_ok=False)
    where = str(path)
    _check_keys(raw, GRID_KEYS, where)
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise UsageError(f"{where}: missing key {', '.join(missing)}")
    return Grid(
        source=where,
        models=[_model(m, where) for m in _nonempty_list(raw, "models", where)],
        decoders=[_decoder(d, where) for d in _nonempty_list(raw, "decoders", where)],
        steps=[_steps(s, where) for s in _nonempty_list(raw, "steps", where)],
        gen_lengths=[_positive_int(n, "gen_lengths", where) for n in _nonempty_list(raw, "gen_lengths", where)],
        tasks=[_string(t, "tasks", where) for t in _nonempty_list(raw, "tasks", where)],
        limit=_limit(raw.get("limit"), where),
        batch_size=_batch_size(raw.get("batch_size", 8), where),
        seed=_int(raw.get("seed", 0), "seed", where),
        trace=_bool(raw.get("trace", False), "trace", where),
        exclude=[_rule(r, i, where) for i, r in enumerate(raw.get("exclude") or [])],
        templates=_templates(raw, where),
    )


def _templates(raw: dict, where: str) -> list[str]:
    """`templates: all` or a list of template names (default: the default template only)."""
    from mdlm_eval.templates import resolve

    value = raw.get("templates")
    spec = value if value in (None, "all") else ",".join(map(str, value)) if isinstance(value, list) else str(value)
    try:
        return resolve(spec, [_string(t, "tasks", where) for t in raw.get("tasks") or []])
    except UsageError as e:
        raise UsageError(f"{where}: {e}") from None


def _check_keys(values: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(map(str, values)) - set(allowed))
    if unknown:
        raise UsageError(f"{where}: unknown key {', '.join(unknown)}; valid keys: {', '.join(allowed)}")


def _nonempty_list(raw: dict, key: str, where: str) -> list:
    value = raw[key]
    value = value if isinstance(value, list) else [value]
    if not value or any(v is None for v in value):
        raise UsageError(f"{where}: {key} must be a non-empty list")
    return value


def _string(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where}: {key} entries must be non-empty strings, got {value!r}")
    return value


def _int(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{where}: {key} must be an integer, got {value!r}")
    return value


def _positive_int(value: Any, key: str, where: str) -> int:
    if _int(value, key, where) < 1:
        raise UsageError(f"{where}: {key} must be >= 1, got {value}")
    return value


def _bool(value: Any, key: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"{where}: {key} must be true or false, got {value!r}")
    return value


def _steps(value: Any, where: str) -> int | str:
    if value in STEP_WORDS:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{where}: steps entries must be a positive integer or one of {', '.join(STEP_WORDS)}, got {value!r}")
    return value


def _limit(value: Any, where: str) -> int | float | None:
    if value is None:
        return None
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    ok = ok or (isinstance(value, float) and 0 < value <= 1)
    if not ok:
        raise UsageError(f"{where}: limit must be a count >= 1, a fraction in (0, 1], or null, got {value!r}")
    return value


def _batch_size(value: Any, where: str) -> int | str:
    if value == "auto" or (isinstance(value, str) and value.startswith("auto:")):
        return value
    return _positive_int(value, "batch_size", where)


def _model(entry: Any, where: str) -> tuple[str, str | None]:
    if isinstance(entry, str):
        return _string(entry, "models", where), None
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: a models entry must be a name or a mapping with name|path and peft, got {entry!r}")
    _check_keys(entry, MODEL_KEYS, f"{where} models entry {entry}")
    if ("name" in entry) == ("path" in entry):
        raise UsageError(f"{where}: models entry {entry} needs exactly one of name, path")
    model = _string(entry.get("name", entry.get("path")), "models", where)
    peft = entry.get("peft")
    return model, None if peft is None else _string(peft, "peft", where)


def _decoder(entry: Any, where: str) -> Decoder:
    if isinstance(entry, str):
        entry = {"preset": entry}
    if not isinstance(entry, dict) or "preset" not in entry:
        raise UsageError(f"{where}: a decoders entry must be a preset name or a mapping with preset, got {entry!r}")
    _check_keys(entry, DECODER_KEYS, f"{where} decoders entry {entry}")
    decoder = Decoder(**entry)
    try:
        load_spec(decoder.preset).with_overrides(**decoder.overrides())
    except UsageError as e:
        raise UsageError(f"{where}: decoder {decoder.preset}: {e}") from None
    return decoder


def _rule(entry: Any, index: int, where: str) -> dict[str, list[Any]]:
    if not isinstance(entry, dict) or not entry:
        raise UsageError(f"{where}: exclude rule {index + 1} must be a mapping of {', '.join(RULE_KEYS)} to values")
    _check_keys(entry, RULE_KEYS, f"{where} exclude rule {index + 1}")
    return {k: v if isinstance(v, list) else [v] for k, v in entry.items()}


# ---- expanding a grid into cells ----


def cell_nfe(spec, length: int, model_block: int | None) -> int | str:
    """Forward passes per sample of a cell: the decoder's plan at L, "adaptive" when decided while decoding. On a
    block-causal model a row's blocks start at its first prompt token, so it decodes ceil(L / B) or one more block
    (docs/models.md, "Block diffusion"): a range "lo-hi" of the plan per block times those blocks."""
    if model_block is None:
        nfe = planned_nfe(spec, length)
        return "adaptive" if nfe is None else nfe
    from mdlm_eval.decoding.loop import per_block_steps

    block = spec.block_length or model_block
    spec = spec.with_overrides(block_length=block)
    fewest = -(-length // block)
    plans = [planned_nfe(per_block_steps(spec, length, n * block), n * block) for n in (fewest, fewest + 1)]
    return "adaptive" if None in plans else f"{plans[0]}-{plans[1]}"


def plan_cells(grid: Grid, output_path: str = DEFAULT_OUTPUT) -> list[Cell]:
    """Every cell of the grid not excluded, each checked against its decoder's plan; raises UsageError."""
    cells: list[Cell] = []
    used = [False] * len(grid.exclude)
    for (model, peft), decoder, steps, length in product(grid.models, grid.decoders, grid.steps, grid.gen_lengths):
        facts = {"model": model, "peft": peft, "decoder": decoder.preset, "steps": steps, "gen_length": length}
        hits = [all(facts[k] in values for k, values in rule.items()) for rule in grid.exclude]
        used = [u or h for u, h in zip(used, hits)]
        if any(hits):
            continue
        label = cell_label(model, peft, decoder, steps, length)
        try:
            nfe = cell_nfe(load_spec(decoder.preset).with_overrides(steps=steps, **decoder.overrides()), length,
                           trained_block_length(local_config(model)))
        except UsageError as e:
            raise UsageError(f"{grid.source}: cell {label}: {e}; leave it out with an exclude rule") from None
        for template in grid.templates:
            config = RunConfig(
                model=model, peft=peft, decoder=decoder.preset, steps=steps, gen_length=length,
                block_length=decoder.block_length, block_num=decoder.block_num, temperature=decoder.temperature,
                threshold=decoder.threshold, cache=decoder.cache,
                tasks=list(grid.tasks), limit=grid.limit, batch_size=grid.batch_size, output_path=output_path,
                seed=grid.seed, trace=grid.trace, template=template,
            )
            cells.append(Cell(config, nfe))
    for i, rule in enumerate(grid.exclude):
        if not used[i]:
            raise UsageError(f"{grid.source}: exclude rule {i + 1} {rule} matches no cell (a misspelt value?)")
    if not cells:
        raise UsageError(f"{grid.source}: every cell is excluded; nothing to run")
    _check_distinct_folders(cells, grid.source)
    return cells


def _check_distinct_folders(cells: list[Cell], where: str) -> None:
    seen: dict[Path, Cell] = {}
    for cell in cells:
        other = seen.setdefault(cell.folder, cell)
        if other is not cell:
            raise UsageError(f"{where}: cells {other.label} and {cell.label} write to the same folder {cell.folder}")


def check_tasks(grid: Grid) -> None:
    """Every task of the grid is known to lm-eval (built-in or in the project's tasks/); raises UsageError."""
    from lm_eval.tasks import TaskManager

    from mdlm_eval import runner
    from mdlm_eval.paths import TASKS_DIR

    try:
        runner.check_tasks(TaskManager(include_path=str(TASKS_DIR)), grid.tasks)
    except UsageError as e:
        raise UsageError(f"{grid.source}: {e}") from None


# ---- running ----


def is_complete(folder: Path, config: RunConfig | None = None) -> bool:
    """A run folder is complete when its manifest.json says so (the runner writes it last) and, given the
    cell's config, the run covered the same `limit` (a `limit: 16` trial never passes for the full run)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("status") != "complete":
        return False
    return config is None or manifest.get("limit") == config.limit


Progress = Callable[[int, Cell, str, str], None]
"""Called as progress(index, cell, event, detail) with event one of: skipped, running, done, failed."""


def run_sweep(cells: list[Cell], progress: Progress = lambda *_: None) -> SweepResult:
    """Run every incomplete cell in order; a failed cell is recorded and the sweep goes on."""
    result = SweepResult()
    for i, cell in enumerate(cells):
        if is_complete(cell.folder, cell.config):
            result.skipped.append(cell)
            progress(i, cell, "skipped", "already complete")
            continue
        progress(i, cell, "running", str(cell.folder))
        try:
            run_evaluation(cell.config)
            if not is_complete(cell.folder, cell.config):
                raise RuntimeError(f"the run finished without a complete manifest in {cell.folder}")
        except Exception as e:  # noqa: BLE001 - one cell's failure must not stop the sweep
            message = str(e) if isinstance(e, UsageError) else f"{type(e).__name__}: {e}"
            result.failed.append((cell, message))
            progress(i, cell, "failed", message)
            continue
        result.done.append(cell)
        progress(i, cell, "done", str(cell.folder))
    return result


def dry_run_table(cells: list[Cell], columns: int | None = None) -> str:
    """The cells, their NFE per sample and whether they are already complete, fitting `columns` (default: the
    terminal's width; a block of lines per cell where a row is too wide)."""
    rows = [[str(i + 1), c.label, str(c.nfe_per_sample), "complete" if is_complete(c.folder, c.config) else "to run",
             str(c.folder)] for i, c in enumerate(cells)]
    return fit(["#", "cell", "NFE/sample", "status", "folder"], rows, columns, title=2)
