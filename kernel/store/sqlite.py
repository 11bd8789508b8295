"""The embedded store: one SQLite file in WAL mode, used from one dedicated thread so the event loop never blocks.

Why the standard library's sqlite3 on a single-thread executor rather than aiosqlite: aiosqlite does the
same thing (a thread per connection) and would be one more dependency; owning the thread also means the
connection is only ever touched from the thread that created it, and every statement of a `write` runs
inside one BEGIN IMMEDIATE ... COMMIT without another task interleaving.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import orjson

from kernel.store import migrate, sql
from kernel.store.base import (
    Condition,
    Conflict,
    Day,
    Delete,
    Increment,
    InsertMany,
    Missing,
    Op,
    Row,
    Store,
    StoreError,
    StoreOpenError,
    Update,
)
from kernel.store.migrations import VERSION_TABLE
from kernel.store.schema import BOOL, JSON, REAL, TS, Table, render


def _ph(i: int) -> str:
    return "?"


def _day(column: str) -> str:
    return f"substr({column}, 1, 10)"  # timestamps are stored as ISO 8601 text in UTC: the date is its first 10


def _encode(kind: str | None, value: Any) -> Any:
    if value is None:
        return None
    if kind == JSON:
        return orjson.dumps(value).decode()
    if kind == TS:
        return value.astimezone(UTC).isoformat(timespec="microseconds")  # fixed width: sorts as text
    if kind == BOOL:
        return int(bool(value))
    if kind == REAL:
        return float(value)
    return value


# _encode as a table, for batches (sql.statement's by_kind); a kind not listed is stored as it is.
_BY_KIND = {JSON: lambda v: orjson.dumps(v).decode(),
            TS: lambda v: (v if v.tzinfo is UTC else v.astimezone(UTC)).isoformat(timespec="microseconds"),
            BOOL: lambda v: int(bool(v)), REAL: float}


def _decode(kind: str | None, value: Any) -> Any:
    if value is None:
        return None
    if kind == JSON:
        return orjson.loads(value)
    if kind == TS:
        return datetime.fromisoformat(value)
    if kind == BOOL:
        return bool(value)
    return value


class SQLiteStore(Store):
    backend = "sqlite"

    def __init__(self, path: str, *, busy_timeout: float = 5.0, open_timeout: float = 3.0) -> None:
        self.path = os.path.abspath(path)
        self.where = self.path
        self.busy_timeout = busy_timeout
        self.open_timeout = open_timeout  # how long start-up waits for another process's lock before saying so
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    # -- plumbing -------------------------------------------------------------------------------------------

    async def _run(self, fn, *args):
        if self._executor is None:
            raise StoreError(f"the SQLite store {self.path} is not open")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except (Conflict, Missing):
            raise
        except sqlite3.Error as exc:
            raise StoreError(f"the SQLite database {self.path} failed: {exc}") from None

    def _rows(self, t: Table, cursor: sqlite3.Cursor) -> list[Row]:
        names = [d[0] for d in cursor.description]
        kinds = [t.kinds.get(n) for n in names]
        return [{n: _decode(k, v) for n, k, v in zip(names, kinds, values, strict=True)} for values in cursor]

    # -- open / close ---------------------------------------------------------------------------------------

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relaykit-sqlite")
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._open)
        except (sqlite3.Error, OSError) as exc:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise StoreOpenError(_open_problem(self.path, exc)) from None

    def _open(self) -> None:
        folder = os.path.dirname(self.path)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.open_timeout, isolation_level=None)
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"could not switch to WAL mode (journal_mode is {mode})")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, no fsync per commit
            self._migrate(conn)
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")  # one process migrates; another waits for it, then finds nothing to do
        try:
            for stmt in render(migrate.VERSION_DDL, "sqlite"):
                conn.execute(stmt)
            current = conn.execute(f'SELECT COALESCE(MAX(version), 0) FROM "{VERSION_TABLE}"').fetchone()[0]
            problem = migrate.too_new(current, self.path)
            if problem:
                raise sqlite3.DatabaseError(problem)
            for version, description, statements in migrate.pending(current, "sqlite"):
                for stmt in statements:
                    conn.execute(stmt)
                conn.execute(f'INSERT INTO "{VERSION_TABLE}" (version, description, applied_at) VALUES (?, ?, ?)',
                             (version, description, _encode(TS, datetime.now(UTC))))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        if self._executor is None:
            return
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)
        self._executor = None

    # -- reads ----------------------------------------------------------------------------------------------

    async def find(self, table: str, where: Mapping[str, Any] | None = None, *,
                   conditions: Sequence[Condition] = (), order: Sequence[tuple[str, bool]] = (),
                   limit: int | None = None, offset: int = 0) -> list[Row]:
        t = migrate.table(table)
        text, params = sql.select(t, where, _ph, conditions=conditions, order=order, limit=limit, offset=offset,
                                  encode=lambda c, v: _encode(t.kinds.get(c), v))
        return await self._run(lambda: self._rows(t, self._conn.execute(text, params)))

    async def count(self, table: str, where: Mapping[str, Any] | None = None, *,
                    conditions: Sequence[Condition] = ()) -> int:
        t = migrate.table(table)
        text, params = sql.count(t, where, _ph, conditions=conditions, encode=lambda c, v: _encode(t.kinds.get(c), v))
        return await self._run(lambda: self._conn.execute(text, params).fetchone()[0])

    async def aggregate(self, table: str, sums: Sequence[str], group_by: Sequence[str | Day] = (),
                        where: Mapping[str, Any] | None = None, *, conditions: Sequence[Condition] = (),
                        order: Sequence[tuple[str, bool]] = (), limit: int | None = None) -> list[Row]:
        t = migrate.table(table)
        text, params, names = sql.aggregate(t, sums, group_by, where, _ph, day=_day, conditions=conditions,
                                            order=order, limit=limit, encode=lambda c, v: _encode(t.kinds.get(c), v))
        added = {*sums, "count"}

        def run() -> list[Row]:
            return [{n: sql.summed(t, n, v) if n in added else v if n == "day" else _decode(t.kinds.get(n), v)
                     for n, v in zip(names, values, strict=True)} for values in self._conn.execute(text, params)]

        return await self._run(run)

    async def schema_version(self) -> int:
        return await self._run(
            lambda: self._conn.execute(f'SELECT COALESCE(MAX(version), 0) FROM "{VERSION_TABLE}"').fetchone()[0])

    # -- writes ---------------------------------------------------------------------------------------------

    async def write(self, ops: Sequence[Op]) -> list[int]:
        # The SQL and its parameters are built on the store's thread too: encoding a spend batch of thousands of
        # rows on the event loop would stall every request for as long.
        return await self._run(lambda: self._write(_statements(ops)))

    def _write(self, statements) -> list[int]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            counts = []
            for op, text, params in statements:
                try:
                    n = (conn.executemany(text, params) if isinstance(op, InsertMany) else conn.execute(text, params)).rowcount
                except sqlite3.IntegrityError as exc:
                    if exc.sqlite_errorname in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
                        raise Conflict(op.table, exc.sqlite_errorname) from None
                    raise
                if isinstance(op, (Update, Delete, Increment)) and op.must_match and n == 0:
                    raise Missing(op.table, op.key)
                counts.append(n)
            conn.execute("COMMIT")
            return counts
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _statements(ops: Sequence[Op]) -> list[tuple]:
    out = []
    for op in ops:
        t = migrate.table(op.table)
        out.append((op, *sql.statement(op, t, _ph, lambda c, v, t=t: _encode(t.kinds.get(c), v), _BY_KIND)))
    return out


def _open_problem(path: str, exc: BaseException) -> str:
    """A start-up failure in words that name the file and say what to do."""
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED"):
        return (f"the SQLite database {path} is locked by another process; stop it, or point relaykit elsewhere "
                "with --data-dir")
    if name.startswith("SQLITE_NOTADB") or name.startswith("SQLITE_CORRUPT"):
        return (f"the SQLite database {path} is corrupt or not a SQLite database ({exc}); move it aside, or "
                "point relaykit elsewhere with --data-dir")
    if isinstance(exc, OSError):
        return f"cannot create the data directory for {path}: {exc.strerror or exc}"
    return f"cannot open the SQLite database {path}: {exc}"
