"""Plain-text tables that fit the terminal: aligned columns when the rows fit its width, else one record per
block of lines, so that no number is squeezed out or broken at 80 columns."""
from __future__ import annotations

import shutil
import textwrap

GAP = "  "
MIN_TEXT = 30  # the narrowest the last column may wrap to inside a table


def width() -> int:
    """The terminal's width (`COLUMNS` first; 80 when the output is not a terminal)."""
    return shutil.get_terminal_size((80, 24)).columns


def fit(header: list[str], rows: list[list[str]], columns: int | None = None, title: int = 1) -> str:
    """`rows` under `header` as aligned columns if every line fits `columns` (default: the terminal's width),
    or if all but the last fit with room for the last to wrap in place (at least MIN_TEXT wide). Otherwise one
    block per row: its first `title` cells on one line, then the others as `header: value` pairs packed onto
    indented lines; free text wraps at spaces, a single word (a number, a path) is never broken."""
    columns = columns or width()
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(r[j]) for r in [header, *cells]) for j in range(len(header))]
    if sum(widths) + len(GAP) * (len(widths) - 1) <= columns:
        return "\n".join(GAP.join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in [header, *cells])
    start = sum(widths[:-1]) + len(GAP) * (len(widths) - 1)  # the last column (free text) wraps in place
    if columns - start >= MIN_TEXT:
        lines = []
        for r in [header, *cells]:
            text = textwrap.wrap(r[-1], columns - start, break_long_words=False, break_on_hyphens=False) or [""]
            lines.append((GAP.join(v.ljust(w) for v, w in zip(r, widths[:-1])) + GAP + text[0]).rstrip())
            lines += [" " * start + more for more in text[1:]]
        return "\n".join(lines)
    blocks = []
    for row in cells:
        lines = [GAP.join(row[:title])]
        pairs = [(name, value) for name, value in zip(header[title:], row[title:]) if value != ""]
        line = ""
        for name, value in pairs:
            pair = f"{name}: {value}"
            if line and len(line) + len(GAP) + len(pair) > columns - 2:
                lines.append("  " + line)
                line = ""
            if not line and len(pair) > columns - 2 and " " in value:  # free text wraps on its own lines
                lines.extend(textwrap.wrap(pair, columns, initial_indent="  ", subsequent_indent="    ",
                                           break_long_words=False, break_on_hyphens=False))
                continue
            line = f"{line}{GAP}{pair}" if line else pair  # one word (a path) stays whole, even past the width
        if line:
            lines.append("  " + line)
        blocks.append("\n".join(lines))
    return "\n".join(blocks)
