"""SQL text for the Store's operations, shared by both backends; only the placeholder style differs.

Identifiers come from the schema map (a name not in it is a programming error, raised here); every
value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kernel.store.base import OPS, Condition, Day, Delete, Increment, Insert, InsertMany, Op, Update, Upsert
from kernel.store.schema import BIGINT, INT, REAL, TS, Table

Placeholder = Callable[[int], str]  # 1-based index → "?" (SQLite) or "$1" (PostgreSQL)
Encode = Callable[[str, Any], Any]  # (column, value) → the value as the backend binds it
NUMERIC = frozenset({INT, BIGINT, REAL})


def _col(table: Table, name: str) -> str:
    if name not in table.kinds:
        raise ValueError(f"{table.name} has no column {name!r}")
    return f'"{name}"'


def _pk(table: Table) -> str:
    if table.pk is None:
        raise ValueError(f"{table.name} has no single-column primary key")
    return f'"{table.pk}"'


def where_clause(table: Table, where: Mapping[str, Any] | None, ph: Placeholder, params: list,
                 conditions: Sequence[Condition] = (), encode: Encode | None = None) -> str:
    """` WHERE ...` for equality on `where` (values already encoded) and `conditions` (encoded here), or ""."""
    parts = []
    for name, value in (where or {}).items():
        if value is None:
            parts.append(f"{_col(table, name)} IS NULL")
        else:
            params.append(value)
            parts.append(f"{_col(table, name)} = {ph(len(params))}")
    for name, op, value in conditions:
        col = _col(table, name)
        if op not in OPS:
            raise ValueError(f"unknown condition operator {op!r} (known: {', '.join(sorted(OPS))})")
        if value is None:
            raise ValueError(f"condition on {table.name}.{name}: a value is needed (use `where` for NULL)")
        if op == "in":
            values = list(value)
            if not values:
                parts.append("1 = 0")  # nothing is in an empty set
                continue
            marks = []
            for v in values:
                params.append(encode(name, v) if encode else v)
                marks.append(ph(len(params)))
            parts.append(f"{col} IN ({', '.join(marks)})")
        else:
            params.append(encode(name, value) if encode else value)
            parts.append(f"{col} {op} {ph(len(params))}")
    return " WHERE " + " AND ".join(parts) if parts else ""


def _encoded(where: Mapping[str, Any] | None, encode: Encode) -> dict[str, Any]:
    return {k: (None if v is None else encode(k, v)) for k, v in (where or {}).items()}


def _limit(sql: str, params: list, ph: Placeholder, limit: int | None, offset: int = 0) -> str:
    if limit is not None:
        params.append(int(limit))
        sql += f" LIMIT {ph(len(params))}"
        if offset:
            params.append(int(offset))
            sql += f" OFFSET {ph(len(params))}"
    return sql


def select(table: Table, where: Mapping[str, Any] | None, ph: Placeholder, *, conditions: Sequence[Condition] = (),
           order: Sequence[tuple[str, bool]] = (), limit: int | None = None, offset: int = 0,
           encode: Encode) -> tuple[str, list]:
    params: list = []
    sql = f'SELECT * FROM "{table.name}"' + where_clause(table, _encoded(where, encode), ph, params, conditions, encode)
    if order:
        sql += " ORDER BY " + ", ".join(f"{_col(table, c)} {'DESC' if desc else 'ASC'}" for c, desc in order)
    return _limit(sql, params, ph, limit, offset), params


def count(table: Table, where: Mapping[str, Any] | None, ph: Placeholder, *, conditions: Sequence[Condition] = (),
          encode: Encode) -> tuple[str, list]:
    params: list = []
    clause = where_clause(table, _encoded(where, encode), ph, params, conditions, encode)
    return f'SELECT COUNT(*) FROM "{table.name}"' + clause, params


def aggregate(table: Table, sums: Sequence[str], group_by: Sequence[str | Day], where: Mapping[str, Any] | None,
              ph: Placeholder, *, day: Callable[[str], str], conditions: Sequence[Condition] = (),
              order: Sequence[tuple[str, bool]] = (), limit: int | None = None,
              encode: Encode) -> tuple[str, list, list[str]]:
    """(sql, params, output names): SUM of each of `sums` and COUNT(*) per group. `day(quoted column)` is the
    backend's expression for a timestamp's UTC day. Order is by output position, so a sum named like its
    column is never mistaken for the column."""
    outputs, exprs = [], []
    for g in group_by:
        if isinstance(g, Day):
            if table.kinds.get(g.column) != TS:
                raise ValueError(f"{table.name}.{g.column} is not a timestamp column: it has no day")
            outputs.append("day")
            exprs.append(day(_col(table, g.column)))
        else:
            outputs.append(g)
            exprs.append(_col(table, g))
    groups = list(exprs)
    for name in sums:
        if table.kinds.get(name) not in NUMERIC:
            raise ValueError(f"{table.name}.{name} is not a numeric column: it cannot be summed")
        outputs.append(name)
        exprs.append(f"COALESCE(SUM({_col(table, name)}), 0)")
    outputs.append("count")
    exprs.append("COUNT(*)")
    if len(set(outputs)) != len(outputs):
        raise ValueError(f"aggregate over {table.name}: an output name repeats in {outputs}")
    params: list = []
    sql = (f"SELECT {', '.join(exprs)} FROM \"{table.name}\""
           + where_clause(table, _encoded(where, encode), ph, params, conditions, encode))
    if groups:
        sql += " GROUP BY " + ", ".join(groups)
    if order:
        parts = []
        for name, desc in order:
            if name not in outputs:
                raise ValueError(f"aggregate over {table.name}: cannot order by {name!r} (outputs: {outputs})")
            parts.append(f"{outputs.index(name) + 1} {'DESC' if desc else 'ASC'}")
        sql += " ORDER BY " + ", ".join(parts)
    return _limit(sql, params, ph, limit), params, outputs


def summed(table: Table, name: str, value: Any) -> Any:
    """A sum (or `count`) an aggregate returned, as Python: int for integer columns (PostgreSQL's SUM of a
    bigint is a numeric), float for real ones."""
    kind = table.kinds.get(name)
    if name == "count" or kind in (INT, BIGINT):
        return int(value)
    if kind == REAL:
        return float(value)
    return value


def statement(op: Op, table: Table, ph: Placeholder, encode: Callable[[str, Any], Any],
              by_kind: Mapping[str, Callable[[Any], Any]] | None = None) -> tuple[str, list]:
    """One write operation as (sql, params). `by_kind` (column kind → converter; a kind not in it passes as is)
    is the backend's `encode` as a table, for the batch path."""
    if isinstance(op, Insert):
        names = list(op.row)
        cols = ", ".join(_col(table, n) for n in names)
        marks = ", ".join(ph(i + 1) for i in range(len(names)))
        sql = f'INSERT INTO "{table.name}" ({cols}) VALUES ({marks})'
        if op.ignore_conflict:
            sql += " ON CONFLICT DO NOTHING"
        return sql, [encode(n, op.row[n]) for n in names]
    if isinstance(op, InsertMany):  # params: one list per row, for executemany
        names = list(op.rows[0]) if op.rows else []
        cols = ", ".join(_col(table, n) for n in names)
        marks = ", ".join(ph(i + 1) for i in range(len(names)))
        sql = f'INSERT INTO "{table.name}" ({cols}) VALUES ({marks})'
        if op.ignore_conflict:
            sql += " ON CONFLICT DO NOTHING"
        if any(row.keys() != op.rows[0].keys() for row in op.rows):
            raise ValueError(f"{table.name}: InsertMany rows must all have the same columns")
        # One converter per column, found once: a batch of thousands of rows is not re-dispatched per value.
        convert = [by_kind.get(table.kinds[n]) for n in names] if by_kind is not None else None
        if convert is None:
            return sql, [[encode(n, row[n]) for n in names] for row in op.rows]
        typed = [(i, f) for i, f in enumerate(convert) if f is not None]
        out = []
        for row in op.rows:
            values = [row[n] for n in names]
            for i, f in typed:
                v = values[i]
                if v is not None:
                    values[i] = f(v)
            out.append(values)
        return sql, out
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
