"""The Store protocol both backends implement, the write operations it takes, and its errors.

Rows go in and come out as plain dicts of Python values (str, int, float, bool, None, datetime in UTC,
and lists/dicts for JSON columns); each backend converts to and from its own column types. Table and
column names are checked against the schema (kernel/store/schema.py); values are always parameters.

    StoreError (GatewayError, 503)     the database failed or is unreachable while serving
    └── StoreOpenError                 could not be opened or migrated at start-up; names the file or URL
    Conflict                           a write broke a unique constraint (an alias or id already taken)
    Missing                            a write marked `must_match` touched no row; the transaction is undone

Reads filter by equality (`where`, a mapping) and by `conditions`: (column, op, value) triples with op one of
`<`, `<=`, `>`, `>=`, `!=`, `in` (value a list), for date ranges and small id sets. `aggregate` is the one
grouped read: SUMs of numeric columns per group, for reports over roll-up tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from attrs import frozen

from kernel.errors import GatewayError

Row = dict[str, Any]
Condition = tuple[str, str, Any]  # (column, op, value): ("start_time", ">=", t), ("team_id", "in", [...])
OPS = frozenset({"<", "<=", ">", ">=", "!=", "in"})


@frozen
class Day:
    """A group_by entry: the UTC calendar day (YYYY-MM-DD) of a timestamp column, in the output as `day`."""

    column: str


class StoreError(GatewayError):
    status = 503
    type = "api_error"
    code = "store_unavailable"


class StoreOpenError(StoreError):
    """Raised by `open()`: the message names the database file or URL (never a password)."""


class Conflict(Exception):
    def __init__(self, table: str, constraint: str | None = None) -> None:
        super().__init__(f"{table}: unique constraint {constraint or '(unknown)'} violated")
        self.table = table
        self.constraint = constraint


class Missing(Exception):
    def __init__(self, table: str, key: Any) -> None:
        super().__init__(f"{table}: no row {key!r}")
        self.table = table
        self.key = key


@frozen
class Insert:
    table: str
    row: Mapping[str, Any]
    ignore_conflict: bool = False  # ON CONFLICT DO NOTHING: a replayed spend batch writes each row once


@frozen
class InsertMany:
    """Many rows with the same columns in one statement (executemany): the spend writer's batches. Its count is
    the rows given, since PostgreSQL reports none for executemany."""

    table: str
    rows: Sequence[Mapping[str, Any]]
    ignore_conflict: bool = False


@frozen
class Update:
    table: str
    key: Any  # the primary key value
    changes: Mapping[str, Any]
    must_match: bool = True


@frozen
class Increment:
    """`column = column + delta` for each column: counters that concurrent writers add to (spend)."""

    table: str
    key: Any
    deltas: Mapping[str, float]
    must_match: bool = False


@frozen
class Upsert:
    """Insert `row`, or where a row with the same `conflict` columns exists add its `add` columns to that row's
    (`column = column + excluded.column`) and overwrite its `replace` columns: roll-up counters in one statement."""

    table: str
    row: Mapping[str, Any]
    conflict: tuple[str, ...]
    add: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()


@frozen
class Delete:
    table: str
    key: Any
    must_match: bool = True


Op = Insert | InsertMany | Update | Increment | Upsert | Delete


class Store(Protocol):
    """One database behind a handful of async methods; nothing here blocks the event loop."""

    backend: str  # "sqlite" or "postgresql"
    where: str  # the file, or the URL without its password: for messages

    async def open(self) -> None:
        """Connect and apply pending migrations; raises StoreOpenError naming the database."""

    async def close(self) -> None: ...

    async def get(self, table: str, key: Any) -> Row | None:
        """The row whose primary key is `key`, or None (one `find`, for every backend that subclasses Store)."""
        from kernel.store import migrate  # the schema's table map; imported late, it imports this module

        rows = await self.find(table, {migrate.table(table).pk: key}, limit=1)
        return rows[0] if rows else None

    async def find(self, table: str, where: Mapping[str, Any] | None = None, *,
                   conditions: Sequence[Condition] = (), order: Sequence[tuple[str, bool]] = (),
                   limit: int | None = None, offset: int = 0) -> list[Row]:
        """Rows matching every `column = value` in `where` (None matches NULL) and every condition;
        `order` is (column, descending)."""

    async def count(self, table: str, where: Mapping[str, Any] | None = None, *,
                    conditions: Sequence[Condition] = ()) -> int: ...

    async def aggregate(self, table: str, sums: Sequence[str], group_by: Sequence[str | Day] = (),
                        where: Mapping[str, Any] | None = None, *, conditions: Sequence[Condition] = (),
                        order: Sequence[tuple[str, bool]] = (), limit: int | None = None) -> list[Row]:
        """One row per group: its group_by values (a Day as `day`), SUM of each of `sums` under the column's own
        name (0 for no rows; int for integer columns, float for real ones) and `count`, the rows in the group.
        `order` names output keys (a group column, `day`, a sum or `count`)."""

    async def write(self, ops: Sequence[Op]) -> list[int]:
        """Apply `ops` in one transaction (all or nothing); the rows each touched. Raises Conflict or Missing."""

    async def schema_version(self) -> int: ...
