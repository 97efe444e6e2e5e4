"""Small-cell suppression for the weekly statistics (service.audit.stats): counts below K hidden,
and more cells (zeros too) until no hidden count can be worked out from the others or the total.

Standard library only.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

__all__ = ["K", "_overall_week", "_suppress", "cell_label"]

K = 3  # smallest count shown in a per-compartment weekly cell
_G = TypeVar("_G", bound=Hashable)


def cell_label(count: int | None, small: bool) -> str:
    """How a cell shows: its count, "<K" when hidden for being small, "*" when hidden to protect
    another."""
    if count is not None:
        return str(count)
    return f"<{K}" if small else "*"


def _suppress(grid: dict[_G, list[int]]) -> dict[_G, list[tuple[int | None, bool]]]:
    """Hide counts below K, then hide the smallest other count (a zero too: "0" beside a hidden
    cell and the total would give it away) in any week or compartment where exactly one count is
    hidden, until no hidden count stands alone where another can be hidden."""
    hidden = {(key, w) for key, row in grid.items() for w, n in enumerate(row) if 0 < n < K}
    small = set(hidden)
    weeks = len(next(iter(grid.values()), []))
    changed = True
    while changed:
        changed = False
        lines = [[(key, w) for w in range(weeks)] for key in grid]
        lines += [[(key, w) for key in grid] for w in range(weeks)]
        for line in lines:
            if sum(cell in hidden for cell in line) != 1:
                continue
            shown = [c for c in line if c not in hidden]
            if shown:
                hidden.add(min(shown, key=lambda c: grid[c[0]][c[1]]))
                changed = True
    return {
        key: [
            (None, (key, w) in small) if (key, w) in hidden else (n, False)
            for w, n in enumerate(row)
        ]
        for key, row in grid.items()
    }


def _overall_week(
    grid: dict[_G, list[int]], suppressed: dict[_G, list[tuple[int | None, bool]]], week: int
) -> int | None:
    """The week's total, hidden when it would give away a lone hidden cell (a single
    compartment, say)."""
    hidden = sum(suppressed[key][week][0] is None for key in grid)
    return None if hidden == 1 else sum(row[week] for row in grid.values())
