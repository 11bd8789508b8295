"""What both backends need to migrate and convert: the folded table map and the pending migration steps."""

from __future__ import annotations

from kernel.store.migrations import MIGRATIONS, VERSION_TABLE
from kernel.store.schema import INT, TEXT, TS, Col, CreateTable, Table, fold, render

LATEST = MIGRATIONS[-1][0]
VERSION_DDL = CreateTable(VERSION_TABLE, (Col("version", INT, null=False), Col("description", TEXT),
                                          Col("applied_at", TS, null=False)), primary_key=("version",))
TABLES: dict[str, Table] = fold([VERSION_DDL, *(step for _, _, steps in MIGRATIONS for step in steps)])


def table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise ValueError(f"the store has no table {name!r}") from None


def pending(current: int, dialect: str) -> list[tuple[int, str, list[str]]]:
    """(version, description, statements) for every migration after `current`, oldest first."""
    out = []
    for version, description, steps in MIGRATIONS:
        if version > current:
            out.append((version, description, [sql for step in steps for sql in render(step, dialect)]))
    return out


def too_new(current: int, where: str) -> str | None:
    if current > LATEST:
        return (f"the database {where} has schema version {current}, written by a newer relaykit; "
                f"this one knows versions up to {LATEST}")
    return None
