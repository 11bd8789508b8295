"""SQL text for the Store's operations, shared by both backends; only the placeholder style differs.

Identifiers come from the schema map (a name not in it is a programming error, raised here); every
value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kernel.store.base import Delete, Increment, Insert, Op, Update, Upsert
from kernel.store.schema import Table

Placeholder = Callable[[int], str]  # 1-based index → "?" (SQLite) or "$1" (PostgreSQL)


def _col(table: Table, name: str) -> str:
    if name not in table.kinds:
        raise ValueError(f"{table.name} has no column {name!r}")
    return f'"{name}"'


def _pk(table: Table) -> str:
    if table.pk is None:
        raise ValueError(f"{table.name} has no single-column primary key")
    return f'"{table.pk}"'


def where_clause(table: Table, where: Mapping[str, Any] | None, ph: Placeholder, params: list) -> str:
    if not where:
        return ""
    parts = []
    for name, value in where.items():
        if value is None:
            parts.append(f"{_col(table, name)} IS NULL")
        else:
            params.append(value)
            parts.append(f"{_col(table, name)} = {ph(len(params))}")
    return " WHERE " + " AND ".join(parts)


def select(table: Table, where: Mapping[str, Any] | None, ph: Placeholder, *, order: Sequence[tuple[str, bool]] = (),
           limit: int | None = None, offset: int = 0, encode: Callable[[str, Any], Any]) -> tuple[str, list]:
    params: list = []
    encoded = {k: (None if v is None else encode(k, v)) for k, v in (where or {}).items()}
    sql = f'SELECT * FROM "{table.name}"' + where_clause(table, encoded, ph, params)
    if order:
        sql += " ORDER BY " + ", ".join(f"{_col(table, c)} {'DESC' if desc else 'ASC'}" for c, desc in order)
    if limit is not None:
        params.append(int(limit))
        sql += f" LIMIT {ph(len(params))}"
        if offset:
            params.append(int(offset))
            sql += f" OFFSET {ph(len(params))}"
    return sql, params


def count(table: Table, where: Mapping[str, Any] | None, ph: Placeholder, *,
          encode: Callable[[str, Any], Any]) -> tuple[str, list]:
    params: list = []
    encoded = {k: (None if v is None else encode(k, v)) for k, v in (where or {}).items()}
    return f'SELECT COUNT(*) FROM "{table.name}"' + where_clause(table, encoded, ph, params), params


def statement(op: Op, table: Table, ph: Placeholder, encode: Callable[[str, Any], Any]) -> tuple[str, list]:
    """One write operation as (sql, params)."""
    if isinstance(op, Insert):
        names = list(op.row)
        cols = ", ".join(_col(table, n) for n in names)
        marks = ", ".join(ph(i + 1) for i in range(len(names)))
        sql = f'INSERT INTO "{table.name}" ({cols}) VALUES ({marks})'
        if op.ignore_conflict:
            sql += " ON CONFLICT DO NOTHING"
        return sql, [encode(n, op.row[n]) for n in names]
    if isinstance(op, Upsert):
        names = list(op.row)
        cols = ", ".join(_col(table, n) for n in names)
        marks = ", ".join(ph(i + 1) for i in range(len(names)))
        sets = [f'{_col(table, n)} = "{table.name}".{_col(table, n)} + excluded.{_col(table, n)}' for n in op.add]
        sets += [f"{_col(table, n)} = excluded.{_col(table, n)}" for n in op.replace]
        conflict = ", ".join(_col(table, n) for n in op.conflict)
        sql = (f'INSERT INTO "{table.name}" ({cols}) VALUES ({marks}) ON CONFLICT ({conflict}) '
               + (f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"))
        return sql, [encode(n, op.row[n]) for n in names]
    if isinstance(op, Update):
        names = list(op.changes)
        sets = ", ".join(f"{_col(table, n)} = {ph(i + 1)}" for i, n in enumerate(names))
        params = [encode(n, op.changes[n]) for n in names]
        params.append(op.key)
        return f'UPDATE "{table.name}" SET {sets} WHERE {_pk(table)} = {ph(len(params))}', params
    if isinstance(op, Increment):
        names = list(op.deltas)
        sets = ", ".join(f"{_col(table, n)} = {_col(table, n)} + {ph(i + 1)}" for i, n in enumerate(names))
        params = [op.deltas[n] for n in names]
        params.append(op.key)
        return f'UPDATE "{table.name}" SET {sets} WHERE {_pk(table)} = {ph(len(params))}', params
    if isinstance(op, Delete):
        return f'DELETE FROM "{table.name}" WHERE {_pk(table)} = {ph(1)}', [op.key]
    raise TypeError(f"unknown store operation {op!r}")
