"""Real databases for tests: a SQLite file in the test's tmp dir, or a scratch schema in the PostgreSQL at
env POSTGRES_URL (created for one test and dropped after it, so runs never collide)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

POSTGRES_URL = os.environ.get("POSTGRES_URL")
NO_POSTGRES = ("POSTGRES_URL is not set: the PostgreSQL store tests need a server "
               "(e.g. POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test)")
BACKENDS = ["sqlite", "postgresql"]


async def _execute(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A database URL whose search_path is a fresh schema of its own."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    schema = f"relaykit_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}search_path={schema}"
    finally:
        asyncio.run(_execute(f'DROP SCHEMA "{schema}" CASCADE'))


def settings_for(backend: str, url: str | None) -> dict:
    """general_settings for a backend: PostgreSQL by URL; SQLite by leaving database_url unset (the default)."""
    return {"database_url": url} if backend == "postgresql" else {}
