"""The store against real databases, the same tests on SQLite and PostgreSQL: migrations, types, transactions,
constraints, concurrency; and SQLite's start-up failures (corrupt, locked) named by file."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from kernel.config import GeneralSettings, Settings
from kernel.store import (
    Conflict,
    Delete,
    Increment,
    Insert,
    InsertMany,
    Missing,
    StoreOpenError,
    Update,
    Upsert,
    make_store,
)
from kernel.store.migrate import LATEST, TABLES
from kernel.store.migrations import AUDIT, DAILY_SPEND, KEYS, SPEND_LOGS, TEAMS, VERSION_TABLE
from kernel.store.postgres import PostgresStore
from kernel.store.sqlite import SQLiteStore
from tests.servers import free_port
from tests.stores import postgres_schema

NOW = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def settings(url: str, **general) -> Settings:
    return Settings(general=GeneralSettings(database_url=url, **general))


def key_row(token: str, **extra) -> dict:
    return {"token": token, "created_at": NOW, "updated_at": NOW, **extra}


@pytest.fixture
async def store(database):
    backend, url = database
    s = make_store(settings(url))
    assert s.backend == backend
    await s.open()
    yield s
    await s.close()


async def columns_in_database(s) -> dict[str, set[str]]:
    if s.backend == "sqlite":
        with sqlite3.connect(s.path) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                                "AND name LIKE 'relaykit_%'")]
            return {n: {r[1] for r in conn.execute(f'PRAGMA table_info("{n}")')} for n in names}
    rows = await s._fetch("SELECT table_name, column_name FROM information_schema.columns "
                          "WHERE table_schema = current_schema() AND table_name LIKE 'relaykit_%'", [])
    out: dict[str, set[str]] = {}
    for r in rows:
        out.setdefault(r["table_name"], set()).add(r["column_name"])
    return out


async def test_migrations_create_every_table_of_the_schema_map(store):
    assert await store.schema_version() == LATEST
    found = await columns_in_database(store)
    expected = {name: set(t.kinds) for name, t in TABLES.items()}
    assert expected[VERSION_TABLE] == {"version", "description", "applied_at"}
    assert found == expected


async def test_reopening_migrates_nothing_and_keeps_rows(database):
    _, url = database
    first = make_store(settings(url))
    await first.open()
    await first.write([Insert(KEYS, key_row("t1"))])
    await first.close()
    again = make_store(settings(url))
    await again.open()
    try:
        assert await again.schema_version() == LATEST
        assert (await again.get(KEYS, "t1"))["token"] == "t1"
        assert await again.count(VERSION_TABLE) == LATEST  # one row per migration, not one per start
    finally:
        await again.close()


async def test_values_come_back_as_python_types(store):
    expires = NOW + timedelta(days=30)
    await store.write([Insert(KEYS, key_row("t1", models=["a", "b"], aliases={"x": "a"}, metadata={"n": [1, {"k": None}]},
                                            blocked=True, spend=2, max_budget=1.5, rpm_limit=10, expires=expires))])
    row = await store.get(KEYS, "t1")
    assert row["models"] == ["a", "b"] and row["aliases"] == {"x": "a"} and row["metadata"] == {"n": [1, {"k": None}]}
    assert row["blocked"] is True and row["soft_budget_cooldown"] is False
    assert row["spend"] == 2.0 and isinstance(row["spend"], float) and row["max_budget"] == 1.5
    assert row["rpm_limit"] == 10 and row["tpm_limit"] is None
    assert row["expires"] == expires and row["created_at"] == NOW and row["expires"].tzinfo is not None
    assert row["model_max_budget"] == {} and row["rotation_count"] == 0  # the migration's defaults
    assert await store.get(KEYS, "nope") is None


async def test_a_unique_clash_undoes_the_whole_write(store):
    await store.write([Insert(KEYS, key_row("t1", key_alias="same"))])
    with pytest.raises(Conflict):
        await store.write([Insert(TEAMS, {"team_id": "team", "created_at": NOW, "updated_at": NOW}),
                           Insert(KEYS, key_row("t2", key_alias="same"))])
    assert await store.get(TEAMS, "team") is None  # written first, rolled back with the clash
    assert await store.count(KEYS) == 1
    with pytest.raises(Conflict):
        await store.write([Insert(KEYS, key_row("t1"))])  # primary key


async def test_a_must_match_write_that_finds_nothing_undoes_the_whole_write(store):
    await store.write([Insert(KEYS, key_row("t1"))])
    with pytest.raises(Missing) as err:
        await store.write([Update(KEYS, "t1", {"blocked": True}), Delete(KEYS, "gone")])
    assert err.value.key == "gone"
    assert (await store.get(KEYS, "t1"))["blocked"] is False
    assert await store.write([Delete(KEYS, "gone", must_match=False)]) == [0]


async def test_find_filters_orders_and_pages(store):
    rows = [key_row(f"t{i}", team_id="A" if i % 2 else None, created_at=NOW + timedelta(seconds=i)) for i in range(7)]
    await store.write([Insert(KEYS, r) for r in rows])
    newest = await store.find(KEYS, order=[("created_at", True)], limit=3)
    assert [r["token"] for r in newest] == ["t6", "t5", "t4"]
    page2 = await store.find(KEYS, order=[("created_at", True)], limit=3, offset=3)
    assert [r["token"] for r in page2] == ["t3", "t2", "t1"]
    assert [r["token"] for r in await store.find(KEYS, {"team_id": "A"}, order=[("token", False)])] == ["t1", "t3", "t5"]
    assert await store.count(KEYS, {"team_id": None}) == 4  # None matches NULL
    assert await store.count(KEYS, {"team_id": "A", "blocked": False}) == 3


async def test_concurrent_increments_all_count(store):
    await store.write([Insert(KEYS, key_row("t1"))])
    await asyncio.gather(*(store.write([Increment(KEYS, "t1", {"spend": 0.25})]) for _ in range(40)))
    assert (await store.get(KEYS, "t1"))["spend"] == pytest.approx(10.0)


async def test_a_replayed_spend_row_is_written_once(store):
    row = {"request_id": "call-1", "start_time": NOW, "spend": 0.5, "metadata": {"tags": ["x"]}}
    assert await store.write([Insert(SPEND_LOGS, row, ignore_conflict=True)]) == [1]
    assert await store.write([Insert(SPEND_LOGS, row, ignore_conflict=True)]) == [0]
    assert await store.count(SPEND_LOGS) == 1


async def test_insert_many_writes_a_batch_in_one_statement_and_skips_rows_already_there(store):
    rows = [{"request_id": f"call-{i}", "start_time": NOW, "spend": i / 10, "metadata": {"i": i}} for i in range(50)]
    await store.write([InsertMany(SPEND_LOGS, rows[:10], ignore_conflict=True)])
    await store.write([InsertMany(SPEND_LOGS, rows, ignore_conflict=True)])  # a replay with 40 new rows
    got = await store.find(SPEND_LOGS, order=[("spend", False)])
    assert [r["request_id"] for r in got] == [f"call-{i}" for i in range(50)]
    assert got[7]["metadata"] == {"i": 7} and got[7]["start_time"] == NOW
    with pytest.raises(Conflict):
        await store.write([InsertMany(SPEND_LOGS, rows[:2])])  # without ignore_conflict a clash is a Conflict
    with pytest.raises(ValueError):
        await store.write([InsertMany(SPEND_LOGS, [rows[0], {"request_id": "x", "start_time": NOW}])])


async def test_upsert_adds_to_the_row_it_meets(store):
    key = {"date": "2026-12-01", "api_key": "k", "team_id": "", "user_id": "", "model_group": "m", "model": "m",
           "provider": "openai", "endpoint": "chat"}
    add = ("spend", "api_requests")
    for spend in (0.5, 0.25):
        await store.write([Upsert(DAILY_SPEND, {**key, "spend": spend, "api_requests": 1, "updated_at": NOW},
                                  tuple(key), add=add, replace=("updated_at",))])
    (row,) = await store.find(DAILY_SPEND)
    assert row["spend"] == pytest.approx(0.75) and row["api_requests"] == 2


async def test_audit_rows_get_increasing_ids(store):
    for i in range(3):
        await store.write([Insert(AUDIT, {"at": NOW, "actor": "master_key", "action": f"a{i}", "object_type": "key",
                                          "before": None, "after": {"i": i}})])
    rows = await store.find(AUDIT, order=[("id", False)])
    assert [r["action"] for r in rows] == ["a0", "a1", "a2"]
    assert rows[0]["id"] < rows[1]["id"] < rows[2]["id"] and rows[2]["after"] == {"i": 2}


async def test_names_outside_the_schema_are_refused(store):
    with pytest.raises(ValueError, match="no column"):
        await store.find(KEYS, {"token; DROP TABLE relaykit_keys": "x"})
    with pytest.raises(ValueError, match="no table"):
        await store.get("sqlite_master", "x")


# -- SQLite specifics ----------------------------------------------------------------------------------------


async def test_sqlite_is_in_wal_mode_in_the_data_dir(tmp_path):
    s = make_store(Settings(data_dir=str(tmp_path / "data")))
    await s.open()
    try:
        assert s.path == str(tmp_path / "data" / "relaykit.db")
        with sqlite3.connect(s.path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        await s.close()


async def test_a_corrupt_sqlite_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "relaykit.db"
    path.write_bytes(b"this is not a database, just some text that fills a page" * 100)
    with pytest.raises(StoreOpenError) as err:
        await SQLiteStore(str(path)).open()
    assert str(path) in err.value.message and "corrupt or not a SQLite database" in err.value.message


async def test_a_locked_sqlite_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "relaykit.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a write
    try:
        with pytest.raises(StoreOpenError) as err:
            await SQLiteStore(str(path), open_timeout=0.2).open()
        assert str(path) in err.value.message and "locked by another process" in err.value.message
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_a_database_from_a_newer_relaykit_is_refused(tmp_path):
    path = tmp_path / "relaykit.db"
    s = SQLiteStore(str(path))
    await s.open()
    await s.close()
    with sqlite3.connect(path) as conn:
        conn.execute(f'INSERT INTO "{VERSION_TABLE}" VALUES (?, ?, ?)', (LATEST + 1, "future", NOW.isoformat()))
    with pytest.raises(StoreOpenError, match="newer relaykit"):
        await SQLiteStore(str(path)).open()


def test_a_database_url_of_another_kind_is_refused():
    with pytest.raises(ValueError, match="postgresql://"):
        make_store(settings("mysql://db/x"))


# -- PostgreSQL specifics ------------------------------------------------------------------------------------


@pytest.fixture
def postgres_url():
    with postgres_schema() as url:
        yield url


async def test_postgres_pool_is_bounded_by_the_configured_limit(postgres_url):
    s = make_store(settings(postgres_url, database_connection_pool_limit=3))
    await s.open()
    try:
        assert s._pool.get_max_size() == 3
        # More concurrent statements than connections: they queue for the pool, and all finish.
        await asyncio.gather(*(s._fetch("SELECT pg_sleep(0.05)", []) for _ in range(9)))
        assert s._pool.get_size() <= 3
    finally:
        await s.close()


async def test_an_unreachable_postgres_is_an_error_naming_it_without_the_password():
    url = f"postgresql://relay:hunter2secret@127.0.0.1:{free_port()}/nothing"
    s = PostgresStore(url, timeout=2)
    with pytest.raises(StoreOpenError) as err:
        await s.open()
    assert f"postgresql://relay@127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}/nothing" in err.value.message
    assert "hunter2secret" not in err.value.message
