"""The PostgreSQL store: asyncpg with a bounded pool (`database_connection_pool_limit`, default 10 per process).

A pool that is used up makes a caller wait at most `database_connection_timeout` seconds for a connection,
then fail with a StoreError, rather than queue without end (the exhausted-pool hang LiteLLM users report).
Migrations run under a transaction-scoped advisory lock, so workers starting together migrate once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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
from kernel.store.schema import JSON, REAL, Table, render

_LOCK = 0x72656C61796B6974  # "relaykit": the advisory lock migrations hold


def _ph(i: int) -> str:
    return f"${i}"


def _day(column: str) -> str:
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


def _encode(kind: str | None, value: Any) -> Any:
    if value is None:
        return None
    if kind == JSON:
        return orjson.dumps(value).decode()  # asyncpg takes jsonb as text
    if kind == REAL:
        return float(value)
    return value


# _encode as a table, for batches (sql.statement's by_kind); a kind not listed goes to asyncpg as it is.
_BY_KIND = {JSON: lambda v: orjson.dumps(v).decode(), REAL: float}


def _decode(kind: str | None, value: Any) -> Any:
    if kind == JSON and value is not None:
        return orjson.loads(value)
    return value


def redact(url: str) -> str:
    """The URL without password or query: safe in messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class PostgresStore(Store):
    backend = "postgresql"

    def __init__(self, url: str, *, pool_limit: int = 10, timeout: float = 60.0) -> None:
        self.url = url
        self.where = redact(url)
        self.pool_limit = pool_limit
        self.timeout = timeout
        self._pool = None

    async def open(self) -> None:
        try:
            import asyncpg
        except ImportError:
            raise StoreOpenError(f"database_url {self.where} needs the asyncpg package: "
                                 "pip install 'relaykit[postgres]'") from None
        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self.pool_limit,
                                                   timeout=self.timeout, command_timeout=self.timeout)
        except Exception as exc:  # asyncpg raises OSError, TimeoutError, its own errors and ValueError for a bad DSN
            raise StoreOpenError(f"cannot connect to the PostgreSQL database {self.where}: "
                                 f"{type(exc).__name__}: {exc}") from None
        try:
            async with self._pool.acquire(timeout=self.timeout) as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
                for stmt in render(migrate.VERSION_DDL, "postgresql"):
                    await conn.execute(stmt)
                current = await conn.fetchval(f'SELECT COALESCE(MAX(version), 0) FROM "{VERSION_TABLE}"')
                problem = migrate.too_new(current, self.where)
                if problem:
                    raise StoreOpenError(problem)
                for version, description, statements in migrate.pending(current, "postgresql"):
                    for stmt in statements:
                        await conn.execute(stmt)
                    await conn.execute(f'INSERT INTO "{VERSION_TABLE}" (version, description, applied_at) '
                                       "VALUES ($1, $2, $3)", version, description, datetime.now(UTC))
        except StoreOpenError:
            await self.close()
            raise
        except Exception as exc:
            await self.close()
            raise StoreOpenError(f"cannot migrate the PostgreSQL database {self.where}: "
                                 f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def _acquire(self):
        if self._pool is None:
            raise StoreError(f"the PostgreSQL store {self.where} is not open")
        return self._pool.acquire(timeout=self.timeout)

    async def _fetch(self, text: str, params: list) -> list:
        try:
            async with self._acquire() as conn:
                return await conn.fetch(text, *params)
        except Exception as exc:
            raise _failure(self.where, exc) from None

    @staticmethod
    def _rows(t: Table, records) -> list[Row]:
        return [{k: _decode(t.kinds.get(k), v) for k, v in r.items()} for r in records]

    async def find(self, table: str, where: Mapping[str, Any] | None = None, *,
                   conditions: Sequence[Condition] = (), order: Sequence[tuple[str, bool]] = (),
                   limit: int | None = None, offset: int = 0) -> list[Row]:
        t = migrate.table(table)
        text, params = sql.select(t, where, _ph, conditions=conditions, order=order, limit=limit, offset=offset,
                                  encode=lambda c, v: _encode(t.kinds.get(c), v))
        return self._rows(t, await self._fetch(text, params))

    async def count(self, table: str, where: Mapping[str, Any] | None = None, *,
                    conditions: Sequence[Condition] = ()) -> int:
        t = migrate.table(table)
        text, params = sql.count(t, where, _ph, conditions=conditions, encode=lambda c, v: _encode(t.kinds.get(c), v))
        return (await self._fetch(text, params))[0][0]

    async def aggregate(self, table: str, sums: Sequence[str], group_by: Sequence[str | Day] = (),
                        where: Mapping[str, Any] | None = None, *, conditions: Sequence[Condition] = (),
                        order: Sequence[tuple[str, bool]] = (), limit: int | None = None) -> list[Row]:
        t = migrate.table(table)
        text, params, names = sql.aggregate(t, sums, group_by, where, _ph, day=_day, conditions=conditions,
                                            order=order, limit=limit, encode=lambda c, v: _encode(t.kinds.get(c), v))
        added = {*sums, "count"}
        return [{n: sql.summed(t, n, v) if n in added else v if n == "day" else _decode(t.kinds.get(n), v)
                 for n, v in zip(names, record.values(), strict=True)} for record in await self._fetch(text, params)]

    async def schema_version(self) -> int:
        return (await self._fetch(f'SELECT COALESCE(MAX(version), 0) FROM "{VERSION_TABLE}"', []))[0][0]

    async def write(self, ops: Sequence[Op]) -> list[int]:
        import asyncpg

        statements = []
        for op in ops:
            t = migrate.table(op.table)
            statements.append((op, *sql.statement(op, t, _ph, lambda c, v, t=t: _encode(t.kinds.get(c), v), _BY_KIND)))
        try:
            async with self._acquire() as conn, conn.transaction():
                counts = []
                for op, text, params in statements:
                    try:
                        if isinstance(op, InsertMany):
                            if params:
                                await conn.executemany(text, params)
                            counts.append(len(params))
                            continue
                        tag = await conn.execute(text, *params)
                    except asyncpg.UniqueViolationError as exc:
                        raise Conflict(op.table, exc.constraint_name) from None
                    n = int(tag.rsplit(" ", 1)[-1])  # the command tag: "UPDATE 1", "INSERT 0 1", "DELETE 3"
                    if isinstance(op, (Update, Delete, Increment)) and op.must_match and n == 0:
                        raise Missing(op.table, op.key)
                    counts.append(n)
                return counts
        except (Conflict, Missing):
            raise
        except Exception as exc:
            raise _failure(self.where, exc) from None


def _failure(where: str, exc: Exception) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    return StoreError(f"the PostgreSQL database {where} failed: {type(exc).__name__}: {exc}")
