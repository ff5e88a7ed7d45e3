"""The leaderboard page: Markdown, HTML (one self-contained file) and CSV, and its render in headless Chromium."""
from __future__ import annotations

import base64
import html
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mdlm_eval.errors import UsageError
from mdlm_eval.leaderboard.across import aup_tables, template_tables
from mdlm_eval.leaderboard.plots import FACET_SEP, MAX_SERIES
from mdlm_eval.leaderboard.read import ARCHITECTURE, COST, EXTRAS, HEAD
from mdlm_eval.leaderboard.tables import (Cell, Leaderboard, Table, best_runs, cache_table, checkpoint_table,
                                          comparison_table, definitions, groups_table, reference_table,
                                          relevant_reference, task_table)
from mdlm_eval.paired import METHOD

PLOTS_DIR = "leaderboard_plots"

# ---- rendering ----


def markdown_table(table: Table) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    rows = [[f"**{c.text}**" if c.bold and c.text else c.text for c in r] for r in table.rows]
    return "\n".join([line(table.header), "|" + "---|" * len(table.header)] + [line(r) for r in rows])


def html_table(table: Table) -> str:
    head = "".join(f"<th title='sort'>{html.escape(h)}</th>" for h in table.header)

    def td(c: Cell) -> str:
        numeric = not (c.sort is None or (isinstance(c.sort, float) and np.isnan(c.sort)))
        sort = f" data-v='{c.sort}'" if numeric else " class='t'" if c.text else ""
        text = html.escape(c.text)
        return f"<td{sort}>{f'<b>{text}</b>' if c.bold and text else text}</td>"

    body = "".join("<tr>" + "".join(td(c) for c in r) + "</tr>" for r in table.rows)
    return f"<div class='scroll'><table class='sortable'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


@dataclass
class Page:
    """The page's parts in order: plots, task tables, comparisons, definitions, published, the rest."""

    summary: str
    plots: dict[str, bytes]
    main: list[Table]
    published_relevant: list[Table]
    rest: list[Table]
    definitions: list[tuple[str, str]]
    heatmaps: dict[str, bytes]


def page_of(board: Leaderboard, plots: dict[str, bytes], orders: dict[str, bytes]) -> Page:
    main = [task_table(board, t) for t in board.tasks]
    main += [t for t in (checkpoint_table(board)[0], cache_table(board)[0]) if t is not None]
    main += template_tables(board) + aup_tables(board)
    relevant = relevant_reference(board)
    published = [t for t in (comparison_table(board),) if t is not None]
    if relevant.any():
        published.append(reference_table(board.reference[relevant], "Published numbers for these models and tasks",
                                         "published"))
    rest = [t for t in (groups_table(board),) if t is not None]
    if (~relevant).any():
        rest.append(reference_table(board.reference[~relevant], "Other published numbers (results/reference/*.csv)",
                                    "published-other"))
    summary = (f"{len(board.runs)} settings from {board.files} results files. Scores in percent ± lm-eval's standard "
               f"error (95% interval: ± 1.96 SE), each with its sample count n; bold = best among rows scored on the "
               f"same items (same task and n), only where it beats the runner-up beyond noise (paired 95% interval "
               f"excluding zero, else 1.96 combined SE). Paired differences: {METHOD}. The comparable cost columns are NFE/sample (forward passes) and "
               f"tokens/forward; s/sample is wall time, shown with the host and its load when the run started. A row is one resolved setting (model, adapter, decoder spec, steps, "
               f"L, seed, limit, samples); columns show the settings that tell rows apart, the shared ones are "
               f"above each table.")
    return Page(summary, plots, main, published, rest, definitions(board), orders)


def render_markdown(page: Page) -> str:
    parts = ["# Leaderboard", "", page.summary, ""]
    if page.plots:
        parts += ["## Score against forward passes", "", PLOTS_CAPTION, ""]
        for group, facets in facet_groups(page.plots).items():
            parts += [f"### {group}", ""] + [f"![{facet_title(n)}]({PLOTS_DIR}/{n})" for n, _ in facets] + [""]
    for heading, tables in (("", page.main), ("Published numbers", page.published_relevant)):
        if heading:
            parts += [f"## {heading}", ""] + ([] if tables else ["(none for these models and tasks)", ""])
        for table in tables:
            parts += [f"### {table.title}" if heading else f"## {table.title}", ""]
            parts += ([table.caption, ""] if table.caption else []) + [markdown_table(table), ""]
        if not heading:
            parts += ["## Columns", ""] + [f"- **{k}**: {v}" for k, v in page.definitions] + [""]
    for table in page.rest:
        parts += [f"## {table.title}", ""] + ([table.caption, ""] if table.caption else [])
        parts += [markdown_table(table), ""]
    if page.heatmaps:
        parts += ["## Decoding order (traced runs)", ""] + [f"![{n}]({PLOTS_DIR}/{n})" for n in page.heatmaps] + [""]
    return "\n".join(parts)


PLOTS_CAPTION = (f"Each plot has at most {MAX_SERIES} series: the base model's decoders (fixed-step, then adaptive), "
                 "cached against uncached, each checkpoint against its base model; the selector above a plot shows "
                 "the others of its task metric. A comparison's lower panel is each run's paired difference to its "
                 "base run at the same budget, with its 95% paired bootstrap interval over the shared documents.")


def facet_groups(plots: dict[str, bytes]) -> dict[str, list[tuple[str, bytes]]]:
    """Plots by task metric (`nfe_<task>_<metric>__<k>_<facet>.png`), facets in order."""
    groups: dict[str, list[tuple[str, bytes]]] = {}
    for name, data in plots.items():
        groups.setdefault(name.split(FACET_SEP)[0].removeprefix("nfe_"), []).append((name, data))
    return groups


def facet_title(name: str) -> str:
    """`nfe_t_acc__2_cached_against_uncached.png` -> `cached against uncached`."""
    return name.removesuffix(".png").split(FACET_SEP)[-1].split("_", 1)[-1].replace("_", " ")


SORT_SCRIPT = """
document.querySelectorAll('select.facet').forEach(function (select) {
  select.addEventListener('change', function () {
    var img = select.closest('figure').querySelector('img');
    img.src = select.value; img.alt = img.title = select.options[select.selectedIndex].text;
  });
});
document.querySelectorAll('table.sortable th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0], rows = Array.from(body.rows), up = th.dataset.up !== '1';
    th.dataset.up = up ? '1' : '0';
    function key(r) { var c = r.cells[col]; return c.dataset.v !== undefined ? parseFloat(c.dataset.v) : c.textContent; }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var d = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
      return up ? d : -d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
document.querySelectorAll('.plots img').forEach(function (img) {
  img.addEventListener('click', function () { img.classList.toggle('big'); });
});
"""

STYLE = """
body{font-family:system-ui,sans-serif;margin:12px 18px;font-size:14px;max-width:1800px}
h1{font-size:20px;margin:4px 0}h2{font-size:16px;margin:14px 0 4px}h3{font-size:14px;margin:10px 0 4px}
p.summary{margin:2px 0 6px;color:#333;font-size:13px}p.caption{margin:2px 0 4px;color:#555;font-size:12px}
.plots{display:flex;flex-wrap:wrap;gap:8px}.plots img{height:210px;width:auto;max-width:100%}
.plots figure{margin:0;flex:0 0 auto;max-width:100%}figcaption{font-size:12px}.plots img{cursor:zoom-in}.plots img.big{height:auto;cursor:zoom-out}
div.scroll{overflow:auto;max-height:60vh;max-width:100%;width:fit-content;border:1px solid #ddd;margin-bottom:6px}
table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap}
th{background:#f3f3f3;position:sticky;top:0;cursor:pointer}
td.t{text-align:left}td.t:last-child{white-space:normal;min-width:18em}
dl{font-size:12px;columns:2 420px}dt{font-weight:bold;break-after:avoid}dd{margin:0 0 4px 10px}
details{margin:8px 0}summary{cursor:pointer;font-weight:bold}
"""


def render_html(page: Page) -> str:
    def section(table: Table, level: str = "h3") -> str:
        caption = f"<p class='caption'>{html.escape(table.caption)}</p>" if table.caption else ""
        return f"<{level} id='{table.anchor}'>{html.escape(table.title)}</{level}>{caption}{html_table(table)}"

    def uri(data: bytes) -> str:
        return f"data:image/png;base64,{base64.b64encode(data).decode()}"

    def selectable(plots: dict[str, bytes]) -> str:
        """A figure per task metric showing its first facet; the other facets behind a selector."""
        figures = []
        for group, facets in facet_groups(plots).items():
            options = "".join(f"<option value='{uri(d)}'>{html.escape(facet_title(n))}</option>" for n, d in facets)
            first = facets[0]
            figures.append(f"<figure><figcaption>{html.escape(group)} <select class='facet' "
                           f"title='plot shown'>{options}</select></figcaption><img alt='{html.escape(first[0])}' "
                           f"title='{html.escape(first[0])}' src='{uri(first[1])}'></figure>")
        return "<div class='plots'>" + "".join(figures) + "</div>"

    def images(plots: dict[str, bytes]) -> str:
        return "<div class='plots'>" + "".join(
            f"<figure><img alt='{html.escape(n)}' title='{html.escape(n)}' "
            f"src='data:image/png;base64,{base64.b64encode(d).decode()}'></figure>" for n, d in plots.items()) + "</div>"

    body = [f"<h1>mdlm-eval leaderboard</h1><p class='summary'>{html.escape(page.summary)} "
            f"<a href='#columns'>Column definitions</a>.</p>"]
    if page.plots:
        body.append("<h2>Score against forward passes (±95% interval; ☆ = published, same protocol; click to enlarge)</h2>"
                    f"<p class='caption'>{html.escape(PLOTS_CAPTION)}</p>" + selectable(page.plots))
    body.append("<h2>Tables</h2>" + "".join(section(t) for t in page.main))
    body.append("<h2 id='columns'>Columns</h2><dl>" + "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in page.definitions) + "</dl>")
    body.append("<h2>Published numbers</h2>" + ("".join(section(t) for t in page.published_relevant)
                                                or "<p class='caption'>(none for these models and tasks)</p>"))
    for table in page.rest:
        body.append(f"<details><summary>{html.escape(table.title)}</summary>{section(table)}</details>")
    if page.heatmaps:
        body.append("<details><summary>Decoding order (traced runs)</summary>" + images(page.heatmaps) + "</details>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
            f"<title>mdlm-eval leaderboard</title><style>{STYLE}</style></head><body>{''.join(body)}"
            f"<script>{SORT_SCRIPT}</script></body></html>\n")


def csv_table(board: Leaderboard) -> pd.DataFrame:
    """One row per setting with raw numbers: identity, cost, per score its value, SE and n, and `best_in`."""
    spec = [c for c in board.spec_fields if c != "block_length"]
    first = HEAD[:1] + [ARCHITECTURE] + HEAD[1:] + ["steps", "gen_length"] + (["block_length"] if "block_length" in board.spec_fields else [])
    order = first + spec + ["template", "seed", "limit", "samples"] + COST + EXTRAS + ["cost_from", "results_file"]
    table = board.runs[[c for c in order if c in board.runs]].copy()
    best: dict[int, list[str]] = {i: [] for i in table.index}
    for (task, metric), frame in board.scores.groupby(["task", "metric"], sort=True):
        name = f"{task}/{metric}"
        by_run = frame.set_index("run")
        table[name] = by_run["value"].reindex(table.index)
        table[f"{name} stderr"] = by_run["stderr"].reindex(table.index)
        table[f"{name} n"] = by_run["n"].reindex(table.index).astype("Int64")
        if not frame["group"].iloc[0]:
            for run in best_runs(board, frame):
                best[run].append(name)
    table["best_in"] = [";".join(best[i]) for i in table.index]
    return table


# ---- the page in a real browser ----


def chromium() -> str | None:
    """A headless-capable Chromium on PATH (Debian's `chromium`, or Chrome), or None."""
    return next((p for name in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(name))), None)


def browser(page: Path, *args: str, size: tuple[int, int] = (1366, 768), timeout: float = 120) -> str:
    """Run headless Chromium on a local page with `args`; its standard output. UsageError without Chromium."""
    binary = chromium()
    if binary is None:
        raise UsageError("no Chromium found (install Debian's `chromium` package) to render the page")
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
               f"--window-size={size[0]},{size[1]}", "--virtual-time-budget=5000", *args, page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited with {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


def screenshot(page: str | Path, out: str | Path, size: tuple[int, int] = (1366, 768)) -> Path:
    """The first screen of `page` (a laptop's 1366 x 768 by default) as a PNG, rendered by headless Chromium."""
    page, out = Path(page), Path(out)
    if not page.is_file():
        raise UsageError(f"page {page} does not exist; run `make leaderboard` first")
    out.parent.mkdir(parents=True, exist_ok=True)
    browser(page, f"--screenshot={out.resolve()}", size=size)
    if not out.is_file():
        raise RuntimeError(f"chromium wrote no screenshot to {out}")
    return out
