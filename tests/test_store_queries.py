"""The store's range conditions and grouped sums, the same tests on SQLite and PostgreSQL: what the spend reports
read (kernel/store/sql.py), with values bound as parameters and names checked against the schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kernel.config import GeneralSettings, Settings
from kernel.store import Day, Insert, make_store
from kernel.store.migrations import DAILY_SPEND, KEYS, SPEND_LOGS

T0 = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)


@pytest.fixture
async def store(database):
    s = make_store(Settings(general=GeneralSettings(database_url=database[1])))
    await s.open()
    yield s
    await s.close()


def log(i: int, **extra) -> dict:
    return {"request_id": f"r{i}", "start_time": T0 + timedelta(minutes=20 * i), "spend": 0.5 * i,
            "prompt_tokens": 10 * i, "model": "m", **extra}


def daily(date: str, key: str, model: str, spend: float, requests: int, **extra) -> dict:
    return {"date": date, "api_key": key, "model_group": model, "spend": spend, "api_requests": requests,
            "prompt_tokens": 100 * requests, **extra}


async def test_find_and_count_take_range_and_set_conditions(store):
    await store.write([Insert(SPEND_LOGS, log(i, team_id="A" if i % 2 else "B")) for i in range(6)])
    since = [("start_time", ">=", T0 + timedelta(minutes=40)), ("start_time", "<", T0 + timedelta(minutes=100))]
    found = await store.find(SPEND_LOGS, conditions=since, order=[("start_time", False)])
    assert [r["request_id"] for r in found] == ["r2", "r3", "r4"]
    assert await store.count(SPEND_LOGS, {"team_id": "A"}, conditions=since) == 1
    assert await store.count(SPEND_LOGS, conditions=[("request_id", "in", ["r1", "r5", "nope"])]) == 2
    assert await store.count(SPEND_LOGS, conditions=[("request_id", "in", [])]) == 0
    assert await store.count(SPEND_LOGS, conditions=[("team_id", "!=", "A"), ("spend", ">", 1.0)]) == 1  # r4


async def test_aggregate_sums_per_group_in_order_with_a_limit(store):
    await store.write([Insert(DAILY_SPEND, r) for r in (
        daily("2026-03-01", "k1", "gpt-4o", 1.25, 2), daily("2026-03-02", "k1", "gpt-4o", 0.5, 1),
        daily("2026-03-02", "k2", "o3", 3.0, 4), daily("2026-03-03", "k2", "gpt-4o", 0.25, 1),
        daily("2026-03-09", "k1", "o3", 100.0, 9))])
    march = [("date", ">=", "2026-03-01"), ("date", "<=", "2026-03-03")]
    by_key = await store.aggregate(DAILY_SPEND, ["spend", "api_requests", "prompt_tokens"], ["api_key"],
                                   conditions=march, order=[("spend", True)])
    assert by_key == [{"api_key": "k2", "spend": 3.25, "api_requests": 5, "prompt_tokens": 500, "count": 2},
                      {"api_key": "k1", "spend": 1.75, "api_requests": 3, "prompt_tokens": 300, "count": 2}]
    assert all(type(r["api_requests"]) is int and type(r["spend"]) is float for r in by_key)
    top = await store.aggregate(DAILY_SPEND, ["spend"], ["model_group"], order=[("spend", True)], limit=1)
    assert top == [{"model_group": "o3", "spend": 103.0, "count": 2}]
    one_key = await store.aggregate(DAILY_SPEND, ["spend"], ["date", "model_group"], {"api_key": "k1"},
                                    conditions=march, order=[("date", False), ("model_group", False)])
    assert [(r["date"], r["model_group"], r["spend"]) for r in one_key] == [("2026-03-01", "gpt-4o", 1.25),
                                                                           ("2026-03-02", "gpt-4o", 0.5)]
    total = await store.aggregate(DAILY_SPEND, ["spend"], conditions=[("date", ">", "2030-01-01")])
    assert total == [{"spend": 0.0, "count": 0}]  # no groups: one row of zeros


async def test_aggregate_groups_a_timestamp_by_its_utc_day(store):
    await store.write([Insert(SPEND_LOGS, log(i, end_user="u" if i < 4 else "v")) for i in range(6)])
    rows = await store.aggregate(SPEND_LOGS, ["spend"], [Day("start_time"), "end_user"],
                                 order=[("day", False), ("end_user", False)])
    # r0 23:30 and r1 23:50 on 1 March; r2.. from 00:10 on 2 March
    assert rows == [{"day": "2026-03-01", "end_user": "u", "spend": 0.5, "count": 2},
                    {"day": "2026-03-02", "end_user": "u", "spend": 2.5, "count": 2},
                    {"day": "2026-03-02", "end_user": "v", "spend": 4.5, "count": 2}]


async def test_names_and_operators_outside_the_schema_are_refused(store):
    with pytest.raises(ValueError, match="no column"):
        await store.find(SPEND_LOGS, conditions=[("spend; DROP TABLE x", ">", 1)])
    with pytest.raises(ValueError, match="unknown condition operator"):
        await store.count(SPEND_LOGS, conditions=[("spend", "LIKE", "1")])
    with pytest.raises(ValueError, match="not a numeric column"):
        await store.aggregate(SPEND_LOGS, ["model"], ["api_key"])
    with pytest.raises(ValueError, match="cannot order by"):
        await store.aggregate(SPEND_LOGS, ["spend"], ["api_key"], order=[("model", False)])
    with pytest.raises(ValueError, match="not a timestamp"):
        await store.aggregate(KEYS, ["spend"], [Day("token")])


async def test_a_value_that_looks_like_sql_is_only_a_value(store):
    await store.write([Insert(SPEND_LOGS, log(1, team_id="x' OR '1'='1"))])
    assert await store.count(SPEND_LOGS, conditions=[("team_id", "in", ["x' OR '1'='1"])]) == 1
    assert await store.count(SPEND_LOGS, conditions=[("team_id", ">=", "' OR 1=1 --")]) == 1  # compared as text
    assert await store.count(SPEND_LOGS, conditions=[("team_id", "in", ["' OR 1=1 --"])]) == 0
