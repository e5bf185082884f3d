"""Read kubectl's table output as a person reads it: by the columns of the header."""

from __future__ import annotations

import re


def table_rows(output: str) -> list[dict[str, str]]:
    """Each row of ``kubectl get`` output as {COLUMN: value}; empty cells are "" (columns by position)."""
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0]
    starts = [match.start() for match in re.finditer(r"\S+", header)]
    names = header.split()
    rows = []
    for line in lines[1:]:
        cells = {}
        for index, name in enumerate(names):
            end = starts[index + 1] if index + 1 < len(starts) else None
            cells[name] = line[starts[index] : end].strip()
        rows.append(cells)
    return rows
