"""The spend read API through the real gateway, on SQLite and PostgreSQL: rows put in the spend log and the daily
roll-ups with the store (as the batched writer will), then read back in LiteLLM's shapes through /spend/logs and
/global/spend/*; master key only, bad parameters a 400 naming the field."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from kernel.config import GeneralSettings, Settings
from kernel.store import Insert, make_store
from kernel.store.migrations import DAILY_SPEND, SPEND_LOGS
from tests.stores import settings_for

MASTER = "sk-spend-api-master-3c9e71b40f"
APP_KEY = "sk-the-app-key-0123456789abcdefghijklmn"
APP = hashlib.sha256(APP_KEY.encode()).hexdigest()
OTHER = "b" * 64
T = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def gw(database, start_gateway):
    backend, url = database
    return start_gateway({"model_list": [{"model_name": "echo/*", "litellm_params": {"model": "echo/*"}}],
                          "general_settings": {"master_key": MASTER, **settings_for(backend, url)}})


@pytest.fixture
def admin(gw):
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {MASTER}"}, timeout=30) as client:
        yield client


def write(database, gw, table: str, rows: list[dict]) -> None:
    backend, url = database
    general = GeneralSettings(database_url=url if backend == "postgresql" else None)

    async def run():
        store = make_store(Settings(general=general, data_dir=str(gw.data_dir)))
        await store.open()
        try:
            await store.write([Insert(table, r) for r in rows])
        finally:
            await store.close()

    asyncio.run(run())


def log(i: int, at: datetime, **extra) -> dict:
    return {"request_id": f"call-{i}", "call_type": "chat", "api_key": APP, "start_time": at,
            "end_time": at + timedelta(seconds=1), "model": "gpt-4o", "model_group": "gpt-4o", "provider": "openai",
            "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "spend": 0.01 * (i + 1), **extra}


def daily(day: str, key: str, model: str, spend: float, *, team: str = "", user: str = "", requests: int = 1,
          group: str | None = None) -> dict:
    return {"date": day, "api_key": key, "team_id": team, "user_id": user, "model_group": group or model,
            "model": model, "endpoint": "chat", "spend": spend, "api_requests": requests,
            "prompt_tokens": 100 * requests, "completion_tokens": 10 * requests}


def bad(admin, path: str, **params) -> dict:
    reply = admin.get(path, params=params)
    assert reply.status_code == 400, reply.text
    return reply.json()["error"]


# -- /spend/logs --------------------------------------------------------------------------------------------


def test_spend_logs_lists_calls_newest_first_filtered_and_paged(database, gw, admin):
    write(database, gw, SPEND_LOGS, [log(i, T + timedelta(hours=i), team_id="t1" if i < 3 else "t2",
                                         user_id="ann", end_user="cust-9") for i in range(5)]
          + [log(9, T - timedelta(minutes=1), api_key=OTHER, request_id="other-call", user_id="bob")])
    everything = admin.get("/spend/logs").json()
    assert [r["request_id"] for r in everything] == ["call-4", "call-3", "call-2", "call-1", "call-0", "other-call"]
    row = everything[0]
    assert row["api_key"] == APP and row["user"] == "ann" and row["team_id"] == "t2" and row["end_user"] == "cust-9"
    assert row["spend"] == pytest.approx(0.05) and row["total_tokens"] == 15 and row["model_group"] == "gpt-4o"
    assert row["custom_llm_provider"] == "openai" and datetime.fromisoformat(row["startTime"]) == T + timedelta(hours=4)

    by_raw_key = admin.get("/spend/logs", params={"api_key": APP_KEY}).json()  # a raw key is hashed first
    assert [r["request_id"] for r in by_raw_key] == ["call-4", "call-3", "call-2", "call-1", "call-0"]
    assert admin.get("/spend/logs", params={"api_key": APP}).json() == by_raw_key  # a hash as it is
    assert [r["request_id"] for r in admin.get("/spend/logs", params={"user_id": "bob"}).json()] == ["other-call"]
    assert [r["request_id"] for r in admin.get("/spend/logs", params={"team_id": "t1"}).json()] == \
        ["call-2", "call-1", "call-0"]
    assert [r["request_id"] for r in admin.get("/spend/logs", params={"request_id": "call-3"}).json()] == ["call-3"]

    first = admin.get("/spend/logs", params={"page_size": 4})
    assert len(first.json()) == 4 and first.headers["x-relaykit-next-page"] == "2"
    second = admin.get("/spend/logs", params={"page_size": 4, "page": 2})
    assert [r["request_id"] for r in second.json()] == ["call-0", "other-call"]
    assert "x-relaykit-next-page" not in second.headers


def test_spend_logs_in_a_date_range_unsummarized_are_the_calls_of_those_days(database, gw, admin):
    write(database, gw, SPEND_LOGS, [log(0, datetime(2026, 2, 28, 23, 59, tzinfo=UTC)),
                                     log(1, datetime(2026, 3, 1, 0, 0, tzinfo=UTC)),
                                     log(2, datetime(2026, 3, 2, 23, 59, tzinfo=UTC)),
                                     log(3, datetime(2026, 3, 3, 0, 0, tzinfo=UTC))])
    rows = admin.get("/spend/logs", params={"start_date": "2026-03-01", "end_date": "2026-03-02",
                                            "summarize": "false"}).json()
    assert [r["request_id"] for r in rows] == ["call-2", "call-1"]  # both days whole, in UTC


def test_spend_logs_summarized_by_day_read_the_roll_ups(database, gw, admin):
    write(database, gw, DAILY_SPEND, [daily("2026-03-01", APP, "gpt-4o", 1.5, user="ann"),
                                      daily("2026-03-01", APP, "o3", 0.5, user="ann"),
                                      daily("2026-03-01", OTHER, "o3", 2.0, user="bob"),
                                      daily("2026-03-03", APP, "gpt-4o", 0.25, user="ann"),
                                      daily("2026-03-09", APP, "gpt-4o", 99.0, user="ann")])
    days = admin.get("/spend/logs", params={"start_date": "2026-03-01", "end_date": "2026-03-04"}).json()
    assert [d["startTime"] for d in days] == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    first = days[0]
    assert first["spend"] == pytest.approx(4.0) and first[APP] == pytest.approx(2.0) and first[OTHER] == 2.0
    assert first["users"] == {"ann": pytest.approx(2.0), "bob": 2.0}
    assert first["models"] == {"gpt-4o": 1.5, "o3": pytest.approx(2.5)}
    assert days[1] == {"startTime": "2026-03-02", "spend": 0.0, "users": {}, "models": {}}
    assert days[2]["spend"] == 0.25
    one_key = admin.get("/spend/logs", params={"start_date": "2026-03-01", "end_date": "2026-03-01",
                                               "api_key": APP_KEY}).json()
    assert one_key == [{"startTime": "2026-03-01", "spend": 2.0, "users": {"ann": 2.0},
                        "models": {"gpt-4o": 1.5, "o3": 0.5}, APP: 2.0}]


# -- /global/spend/* ----------------------------------------------------------------------------------------


@pytest.fixture
def march(database, gw, admin):
    """Three days of roll-ups for two teams (one with an alias), two keys and the master key."""
    assert admin.post("/team/new", json={"team_id": "t-search", "team_alias": "Search"}).status_code == 200
    made = admin.post("/key/generate", json={"key": APP_KEY, "key_alias": "search-app", "team_id": "t-search"})
    assert made.status_code == 200, made.text
    write(database, gw, DAILY_SPEND, [
        daily("2026-03-01", APP, "gpt-4o-2024-08-06", 1.0, team="t-search", requests=2, group="gpt-4o"),
        daily("2026-03-01", APP, "o3", 3.0, team="t-search", group="o3"),
        daily("2026-03-01", OTHER, "o3", 0.5, team="t-plain"),
        daily("2026-03-02", "", "gpt-4o-2024-08-06", 0.25, group="gpt-4o"),
        daily("2026-03-03", OTHER, "o3", 2.0, team="t-plain", requests=3),
        daily("2026-02-10", APP, "o3", 50.0, team="t-search")])  # outside the range asked for
    return {"start_date": "2026-03-01", "end_date": "2026-03-03"}


def test_report_by_team_per_day_with_each_teams_models_and_keys(admin, march):
    report = admin.get("/global/spend/report", params=march).json()  # group_by=team is LiteLLM's default
    assert [d["group_by_day"] for d in report] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    first = report[0]["teams"]
    assert [(t["team_name"], t["team_id"], t["total_spend"]) for t in first] == \
        [("Search", "t-search", 4.0), ("t-plain", "t-plain", 0.5)]
    assert first[0]["metadata"] == [
        {"model": "o3", "api_key": APP, "spend": 3.0, "total_tokens": 110},
        {"model": "gpt-4o-2024-08-06", "api_key": APP, "spend": 1.0, "total_tokens": 220}]
    assert report[1]["teams"][0]["team_name"] == "Unassigned Team" and report[1]["teams"][0]["team_id"] is None


def test_report_by_key_by_model_and_by_day(admin, march):
    keys = admin.get("/global/spend/report", params={**march, "group_by": "api_key"}).json()
    assert [(k["api_key"], k["key_alias"], k["total_cost"]) for k in keys] == \
        [(APP, "search-app", 4.0), (OTHER, None, 2.5), ("", None, 0.25)]
    assert keys[0]["total_input_tokens"] == 300 and keys[0]["total_output_tokens"] == 30
    assert keys[0]["key_name"] == f"sk-...{APP_KEY[-4:]}"
    assert [m["model"] for m in keys[0]["model_details"]] == ["o3", "gpt-4o-2024-08-06"]

    for_one_key = admin.get("/global/spend/report", params={**march, "api_key": APP_KEY}).json()
    assert [k["api_key"] for k in for_one_key] == [APP]  # like LiteLLM: one key's report is by key

    models = admin.get("/global/spend/report", params={**march, "group_by": "model"}).json()
    assert [(m["model_group"], m["total_spend"]) for m in models[0]["models"]] == [("o3", 3.5), ("gpt-4o", 1.0)]

    by_day = admin.get("/global/spend/report", params={**march, "group_by": "day"}).json()
    assert by_day == [
        {"group_by_day": "2026-03-01", "total_spend": 4.5, "api_requests": 4, "total_input_tokens": 400,
         "total_output_tokens": 40},
        {"group_by_day": "2026-03-02", "total_spend": 0.25, "api_requests": 1, "total_input_tokens": 100,
         "total_output_tokens": 10},
        {"group_by_day": "2026-03-03", "total_spend": 2.0, "api_requests": 3, "total_input_tokens": 300,
         "total_output_tokens": 30}]
    team_only = admin.get("/global/spend/report", params={**march, "group_by": "day", "team_id": "t-plain"}).json()
    assert [d["total_spend"] for d in team_only] == [0.5, 0.0, 2.0]


def test_report_by_customer_reads_the_end_users_from_the_log(database, gw, admin):
    write(database, gw, SPEND_LOGS, [log(0, T, end_user="acme"), log(1, T + timedelta(hours=1), end_user="acme"),
                                     log(2, T + timedelta(days=1), end_user="globex"),
                                     log(3, T + timedelta(days=9), end_user="acme")])
    report = admin.get("/global/spend/report", params={"start_date": "2026-03-01", "end_date": "2026-03-02",
                                                       "group_by": "customer"}).json()
    assert [(d["group_by_day"], [(c["customer"], c["total_spend"]) for c in d["customers"]]) for d in report] == \
        [("2026-03-01", [("acme", pytest.approx(0.03))]), ("2026-03-02", [("globex", 0.03)])]
    assert report[0]["customers"][0]["metadata"] == [{"model": "gpt-4o", "api_key": APP, "spend": pytest.approx(0.03),
                                                      "total_tokens": 30}]


def test_top_keys_and_models_of_the_last_30_days(database, gw, admin):
    assert admin.post("/key/generate", json={"key": APP_KEY, "key_alias": "search-app"}).status_code == 200
    today = date.today()
    recent, old = (today - timedelta(days=2)).isoformat(), (today - timedelta(days=45)).isoformat()
    write(database, gw, DAILY_SPEND, [daily(today.isoformat(), APP, "gpt-4o", 1.0), daily(recent, APP, "o3", 2.0),
                                      daily(recent, OTHER, "o3", 0.5), daily(old, OTHER, "gpt-4o", 100.0)])
    keys = admin.get("/global/spend/keys").json()
    assert keys == [{"api_key": APP, "total_spend": 3.0, "key_alias": "search-app", "key_name": f"sk-...{APP_KEY[-4:]}"},
                    {"api_key": OTHER, "total_spend": 0.5, "key_alias": None, "key_name": None}]
    assert admin.get("/global/spend/keys", params={"limit": 1}).json() == keys[:1]
    assert admin.get("/global/spend/models").json() == [{"model": "o3", "total_spend": 2.5},
                                                        {"model": "gpt-4o", "total_spend": 1.0}]


# -- who may ask, and bad questions ---------------------------------------------------------------------------


SPEND_PATHS = ["/spend/logs", "/global/spend/report?start_date=2026-03-01&end_date=2026-03-02",
               "/global/spend/keys", "/global/spend/models"]


@pytest.mark.parametrize("path", SPEND_PATHS)
def test_a_virtual_key_gets_403_and_no_key_401(gw, admin, path):
    key = admin.post("/key/generate", json={}).json()["key"]
    refused = httpx.get(gw.url + path, headers={"authorization": f"Bearer {key}"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "master_key_required"
    assert httpx.get(gw.url + path).status_code == 401


def test_bad_parameters_are_400_naming_the_field(admin):
    assert bad(admin, "/spend/logs", start_date="2026-13-01")["param"] == "start_date"
    assert bad(admin, "/spend/logs", end_date="yesterday")["param"] == "end_date"
    assert bad(admin, "/spend/logs", start_date="2026-3-1")["param"] == "start_date"
    assert bad(admin, "/spend/logs", start_date="2026-03-02", end_date="2026-03-01")["param"] == "end_date"
    assert bad(admin, "/spend/logs", summarize="maybe")["param"] == "summarize"
    assert bad(admin, "/spend/logs", page_size="5000")["param"] == "page_size"
    assert bad(admin, "/spend/logs", page="0")["param"] == "page"
    assert bad(admin, "/spend/logs", model="x")["param"] == "model"  # unknown parameters are refused by name
    assert bad(admin, "/global/spend/report", end_date="2026-03-01")["param"] == "start_date"
    assert bad(admin, "/global/spend/report", start_date="2026-03-01")["param"] == "end_date"
    error = bad(admin, "/global/spend/report", start_date="2026-03-01", end_date="2026-03-02", group_by="planet")
    assert error["param"] == "group_by" and "team, customer, api_key, model, day" in error["message"]
    assert bad(admin, "/global/spend/keys", limit="-1")["param"] == "limit"
    assert bad(admin, "/global/spend/models", limit="lots")["param"] == "limit"
