"""Plain-text tables and money for the terminal commands: columns as wide as their widest cell, no colours."""

from __future__ import annotations

from collections.abc import Sequence


def money(value: float) -> str:
    # Four places: a single call often costs well under a cent.
    return f"${value:,.4f}"


def render(header: Sequence[str], rows: Sequence[Sequence[str]], *, right: set[int] = frozenset()) -> str:
    """The table as lines: a header, a rule, the rows; columns in `right` aligned right (numbers)."""
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)]
        return "  ".join(parts).rstrip()

    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in rows]
    if not rows:
        out.append("(nothing)")
    return "\n".join(out)
