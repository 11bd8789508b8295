"""Virtual keys through the real gateway, on SQLite and PostgreSQL, with the real openai and anthropic SDKs:
the key lifecycle, model limits (key, team, aliases), refusals that send nothing upstream, the management API's
validation (400 naming the field, nothing created), its master-key-only gate, and the audit log."""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime

import anthropic
import httpx
import openai
import orjson
import pytest

from kernel.config import GeneralSettings, Settings
from kernel.store import Insert, make_store
from kernel.store.migrations import AUDIT, KEYS
from tests.stores import settings_for

MASTER = "sk-keys-e2e-master-7d1f0c9a2b"
MODELS = ("gpt-4o", "gpt-4o-mini", "o3")
HI = [{"role": "user", "content": "hi"}]
NOW = datetime.now(UTC)


@pytest.fixture
def db(database):
    return database


@pytest.fixture
def gw(db, fake_openai, start_gateway):
    backend, url = db
    return start_gateway({
        "model_list": [{"model_name": m, "litellm_params": {"model": f"openai/{m}", "api_base": fake_openai.url + "/v1",
                                                            "api_key": "sk-upstream"}} for m in MODELS],
        "router_settings": {"model_group_alias": {"fast": "gpt-4o-mini"}},
        "general_settings": {"master_key": MASTER, **settings_for(backend, url)},
    })


@pytest.fixture
def admin(gw):
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {MASTER}"}, timeout=30) as client:
        yield client


def on_store(db, gw, work):
    """Run `work(store)` on the gateway's database through a store of the test's own, as another process would."""
    backend, url = db
    general = GeneralSettings(database_url=url if backend == "postgresql" else None)

    async def run():
        store = make_store(Settings(general=general, data_dir=str(gw.data_dir)))
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def rows(db, gw, table: str) -> list[dict]:
    return on_store(db, gw, lambda s: s.find(table, order=[("id", False)] if table == AUDIT else ()))


def insert(db, gw, table: str, row: dict) -> None:
    on_store(db, gw, lambda s: s.write([Insert(table, row)]))


def generate(admin, **body) -> dict:
    reply = admin.post("/key/generate", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def sdk(gw, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=gw.url + "/v1", max_retries=0)


def chat(gw, key: str, model: str) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": model, "messages": HI}, timeout=30)


def listed(admin) -> int:
    return admin.get("/key/list").json()["total_count"]


# -- the lifecycle -------------------------------------------------------------------------------------------


def test_a_key_limited_to_two_models_through_its_whole_life(gw, admin, fake_openai):
    made = generate(admin, models=["gpt-4o", "gpt-4o-mini"], key_alias="app-1")
    key = made["key"]
    assert key.startswith("sk-") and len(key) >= 3 + 32
    assert made["token"] == made["token_id"] == hashlib.sha256(key.encode()).hexdigest()
    assert made["key_name"] == f"sk-...{key[-4:]}" and made["models"] == ["gpt-4o", "gpt-4o-mini"]
    client = sdk(gw, key)

    assert client.chat.completions.create(model="gpt-4o", messages=HI).choices[0].message.content == "echo: hi"
    assert client.chat.completions.create(model="gpt-4o-mini", messages=HI).choices[0].message.content == "echo: hi"
    assert len(fake_openai.requests) == 2

    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(model="o3", messages=HI)
    assert refused.value.status_code == 403
    error = refused.value.body
    assert error["type"] == "permission_error" and error["param"] == "model" and error["code"] == "model_not_allowed"
    assert "'o3'" in error["message"] and "gpt-4o, gpt-4o-mini" in error["message"]
    assert len(fake_openai.requests) == 2  # nothing reached the upstream

    assert admin.post("/key/block", json={"key": key}).json()["blocked"] is True
    with pytest.raises(openai.AuthenticationError) as blocked:
        client.chat.completions.create(model="gpt-4o", messages=HI)
    assert blocked.value.status_code == 401 and blocked.value.body["code"] == "key_blocked"

    assert admin.post("/key/unblock", json={"key": made["token"]}).json()["blocked"] is False  # by its hash
    assert client.chat.completions.create(model="gpt-4o", messages=HI).choices[0].message.content == "echo: hi"

    updated = admin.post("/key/update", json={"key": key, "models": ["o3"]})
    assert updated.status_code == 200 and updated.json()["models"] == ["o3"] and updated.json()["key"] == key
    assert client.chat.completions.create(model="o3", messages=HI).choices[0].message.content == "echo: hi"
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="gpt-4o", messages=HI)

    deleted = admin.post("/key/delete", json={"keys": [key]})
    assert deleted.status_code == 200 and deleted.json() == {"deleted_keys": [key]}
    seen = len(fake_openai.requests)
    with pytest.raises(openai.AuthenticationError) as gone:
        client.chat.completions.create(model="o3", messages=HI)
    assert gone.value.status_code == 401 and gone.value.body["code"] == "invalid_api_key"
    assert len(fake_openai.requests) == seen
    assert admin.get("/key/info", params={"key": key}).status_code == 404


def test_the_anthropic_sdk_gets_its_own_envelope(gw, admin, fake_openai):
    key = generate(admin, models=["gpt-4o"])["key"]
    client = anthropic.Anthropic(api_key=key, base_url=gw.url, max_retries=0)
    reply = client.messages.create(model="gpt-4o", max_tokens=16, messages=HI)
    assert reply.content[0].text == "echo: hi"
    seen = len(fake_openai.requests)
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        client.messages.create(model="o3", max_tokens=16, messages=HI)
    assert refused.value.status_code == 403
    assert refused.value.body["type"] == "error" and refused.value.body["error"]["type"] == "permission_error"
    assert "'o3'" in refused.value.body["error"]["message"]
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(api_key=key + "x", base_url=gw.url, max_retries=0).messages.create(
            model="gpt-4o", max_tokens=16, messages=HI)
    assert len(fake_openai.requests) == seen


def test_an_expired_key_is_refused(gw, admin, fake_openai):
    made = generate(admin, duration="1s")
    assert made["expires"] is not None
    time.sleep(1.2)
    reply = chat(gw, made["key"], "gpt-4o")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "key_expired" and "expired at" in reply.json()["error"]["message"]
    assert fake_openai.requests == []


def test_regenerate_replaces_the_key(gw, admin):
    old = generate(admin, models=["gpt-4o"], key_alias="rotating")
    assert chat(gw, old["key"], "gpt-4o").status_code == 200
    new = admin.post(f"/key/{old['key']}/regenerate")
    assert new.status_code == 200
    fresh = new.json()
    assert fresh["key"] != old["key"] and fresh["token"] == hashlib.sha256(fresh["key"].encode()).hexdigest()
    assert fresh["key_alias"] == "rotating" and fresh["models"] == ["gpt-4o"] and fresh["rotation_count"] == 1
    assert chat(gw, old["key"], "gpt-4o").status_code == 401
    assert chat(gw, fresh["key"], "gpt-4o").status_code == 200
    # The body form, with a key of the caller's choosing and a change riding along.
    chosen = "sk-chosen-" + "x" * 32
    again = admin.post("/key/regenerate", json={"key": fresh["key"], "new_key": chosen, "models": ["o3"]})
    assert again.status_code == 200 and again.json()["key"] == chosen
    assert chat(gw, fresh["key"], "o3").status_code == 401
    assert chat(gw, chosen, "o3").status_code == 200 and chat(gw, chosen, "gpt-4o").status_code == 403


def test_key_list_pages_newest_first(admin):
    tokens = [generate(admin, key_alias=f"k{i}")["token"] for i in range(5)]
    pages = [admin.get("/key/list", params={"page": p, "size": 2}).json() for p in (1, 2, 3)]
    assert [p["total_count"] for p in pages] == [5, 5, 5] and [p["total_pages"] for p in pages] == [3, 3, 3]
    assert [p["current_page"] for p in pages] == [1, 2, 3]
    assert [t for p in pages for t in p["keys"]] == tokens[::-1]
    full = admin.get("/key/list", params={"key_alias": "k3", "return_full_object": "true"}).json()
    assert full["total_count"] == 1 and full["keys"][0]["key_alias"] == "k3" and "key" not in full["keys"][0]
    oldest = admin.get("/key/list", params={"sort_by": "created_at", "sort_order": "asc", "size": 1}).json()
    assert oldest["keys"] == [tokens[0]]
    bad = admin.get("/key/list", params={"page": 0})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "page"


# -- model limits ----------------------------------------------------------------------------------------------


def test_an_empty_model_list_means_every_model(gw, admin):
    key = generate(admin)["key"]
    assert [chat(gw, key, m).status_code for m in MODELS] == [200, 200, 200]


def test_team_models_restrict_its_keys(gw, admin, fake_openai):
    team = admin.post("/team/new", json={"team_alias": "search", "models": ["gpt-4o"]})
    assert team.status_code == 200
    team_id = team.json()["team_id"]
    key = generate(admin, team_id=team_id)["key"]  # no models of its own: the team's list applies
    assert chat(gw, key, "gpt-4o").status_code == 200
    refused = chat(gw, key, "gpt-4o-mini")
    assert refused.status_code == 403 and "'search'" in refused.json()["error"]["message"]
    assert len(fake_openai.requests) == 1

    # A key may not be given a model its team may not call: 400, and nothing created.
    before = listed(admin)
    bad = admin.post("/key/generate", json={"team_id": team_id, "models": ["o3"]})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "models[0]"
    assert listed(admin) == before

    widened = admin.post("/team/update", json={"team_id": team_id, "models": ["gpt-4o", "gpt-4o-mini"]})
    assert widened.status_code == 200 and widened.json()["data"]["models"] == ["gpt-4o", "gpt-4o-mini"]
    assert chat(gw, key, "gpt-4o-mini").status_code == 200

    assert admin.post("/team/update", json={"team_id": team_id, "blocked": True}).status_code == 200
    blocked = chat(gw, key, "gpt-4o")
    assert blocked.status_code == 401 and blocked.json()["error"]["code"] == "team_blocked"

    info = admin.get("/team/info", params={"team_id": team_id}).json()
    assert info["team_info"]["team_alias"] == "search" and len(info["keys"]) == 1
    assert admin.post("/team/delete", json={"team_ids": [team_id]}).json() == {"deleted_teams": [team_id]}
    assert chat(gw, key, "gpt-4o").json()["error"]["code"] == "invalid_api_key"  # its keys went with it
    assert admin.get("/team/info", params={"team_id": team_id}).status_code == 404


def test_all_team_models_follows_the_team(gw, admin):
    team_id = admin.post("/team/new", json={"models": ["o3"]}).json()["team_id"]
    key = generate(admin, team_id=team_id, models=["all-team-models"])["key"]
    assert chat(gw, key, "o3").status_code == 200 and chat(gw, key, "gpt-4o").status_code == 403


def test_aliases_are_resolved_before_the_check(gw, admin, fake_openai):
    key = generate(admin, models=["gpt-4o", "gpt-4o-mini"], aliases={"house-model": "gpt-4o"})["key"]
    assert chat(gw, key, "house-model").status_code == 200
    assert fake_openai.requests[-1]["body"]["model"] == "gpt-4o"  # routed to the alias's target
    assert chat(gw, key, "fast").status_code == 200  # the router's model_group_alias → gpt-4o-mini
    assert fake_openai.requests[-1]["body"]["model"] == "gpt-4o-mini"
    only_o3 = generate(admin, models=["o3"])["key"]
    assert chat(gw, only_o3, "fast").status_code == 403  # an alias is no way around the list


def test_each_model_of_a_batch_is_checked(gw, admin, fake_openai):
    key = generate(admin, models=["gpt-4o"])["key"]
    reply = chat(gw, key, "gpt-4o,o3")
    assert reply.status_code == 200
    ok, refused = reply.json()
    assert ok["choices"][0]["message"]["content"] == "echo: hi"
    assert refused["error"]["code"] == "model_not_allowed" and "'o3'" in refused["error"]["message"]
    assert [r["body"]["model"] for r in fake_openai.requests] == ["gpt-4o"]


def test_forwarded_routes_check_the_model_in_the_body(gw, admin, fake_openai):
    key = generate(admin, models=["gpt-4o"])["key"]
    headers = {"authorization": f"Bearer {key}"}
    refused = httpx.post(gw.url + "/v1/responses", headers=headers, json={"model": "o3", "input": "hi"})
    assert refused.status_code == 403 and "'o3'" in refused.json()["error"]["message"]
    assert fake_openai.requests == []
    assert httpx.get(gw.url + "/v1/files", headers=headers).status_code == 200  # no model to check
    assert httpx.get(gw.url + "/v1/files", headers={"authorization": "Bearer sk-wrong"}).status_code == 401


def test_a_key_limited_to_some_models_must_name_one(gw, admin, fake_openai):
    key = generate(admin, models=["gpt-4o"])["key"]
    reply = httpx.post(gw.url + "/v1/moderations", headers={"authorization": f"Bearer {key}"}, json={"input": "x"})
    assert reply.status_code == 403 and reply.json()["error"]["param"] == "model"
    assert fake_openai.requests == []


# -- the management API's gate and validation ---------------------------------------------------------------


def test_a_virtual_key_may_not_manage_keys(gw, admin):
    key = generate(admin)["key"]
    before = listed(admin)
    for method, path, body in (("POST", "/key/generate", {}), ("GET", "/key/list", None),
                               ("POST", "/team/new", {}), ("POST", "/key/delete", {"keys": [key]})):
        reply = httpx.request(method, gw.url + path, headers={"authorization": f"Bearer {key}"}, json=body)
        assert reply.status_code == 403, path
        assert reply.json()["error"]["code"] == "master_key_required"
    assert listed(admin) == before
    assert httpx.post(gw.url + "/key/generate", json={}).status_code == 401
    assert httpx.post(gw.url + "/key/generate", headers={"x-api-key": "sk-nope"}, json={}).status_code == 401
    assert chat(gw, key, "gpt-4o").status_code == 200  # the key itself was not deleted


@pytest.mark.parametrize(("body", "param", "words"), [
    ({"max_budget": "abc"}, "max_budget", 'expected number or null, got string "abc"'),
    ({"duration": "forever"}, "duration", "expected a duration like 30s"),
    ({"surprise": 1}, "surprise", "not a known field"),
    ({"key_type": "llm_api"}, "key_type", "relaykit does not support yet"),
    ({"models": "gpt-4o"}, "models", "expected array"),
    ({"models": ["gpt-4o", 3]}, "models[1]", "expected string"),
    ({"rpm_limit": -1}, "rpm_limit", "must be >= 0"),
    ({"model_max_budget": {"gpt-4o": {"budget_limit": "x"}}}, "model_max_budget.gpt-4o.budget_limit", "expected number"),
    ({"team_id": "no-such-team"}, "team_id", "no team 'no-such-team'"),
    ({"budget_id": "no-such-budget"}, "budget_id", "no budget"),
    ({"key": "not-an-sk-key"}, "key", "starts with 'sk-'"),
])
def test_a_bad_field_is_a_400_naming_it_and_nothing_is_created(db, gw, admin, body, param, words):
    reply = admin.post("/key/generate", json=body)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["param"] == param and words in error["message"] and error["type"] == "invalid_request_error"
    assert listed(admin) == 0
    assert rows(db, gw, AUDIT) == []


def test_a_bad_update_changes_nothing(db, gw, admin):
    made = generate(admin, models=["gpt-4o"], max_budget=5)
    for body in ({"key": made["key"], "models": ["o3"], "max_budget": "abc"}, {"key": made["key"], "blocked": "yes"},
                 {"models": ["o3"]}):
        reply = admin.post("/key/update", json=body)
        assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "key"
    info = admin.get("/key/info", params={"key": made["key"]}).json()["info"]
    assert info["models"] == ["gpt-4o"] and info["max_budget"] == 5 and info["blocked"] is False
    assert [r["action"] for r in rows(db, gw, AUDIT)] == ["key.generate"]


def test_alias_clash_and_bad_json_are_400(admin):
    generate(admin, key_alias="taken")
    clash = admin.post("/key/generate", json={"key_alias": "taken"})
    assert clash.status_code == 400 and clash.json()["error"]["param"] == "key_alias"
    assert admin.post("/key/generate", content=b"{nope").status_code == 400
    assert admin.post("/key/generate", content=b"[1]").status_code == 400
    assert listed(admin) == 1


def test_delete_is_all_or_nothing(admin):
    keep = generate(admin, key_alias="keep")["key"]
    reply = admin.post("/key/delete", json={"keys": [keep], "key_aliases": ["no-such-alias"]})
    assert reply.status_code == 404 and "no-such-alias" in reply.json()["error"]["message"]
    assert listed(admin) == 1
    assert admin.post("/key/delete", json={}).json()["error"]["param"] == "keys"
    assert admin.post("/key/delete", json={"key_aliases": ["keep"]}).json() == {"deleted_keys": ["keep"]}
    assert listed(admin) == 0


# -- storage and audit -------------------------------------------------------------------------------------------


def test_every_change_is_audited_without_the_key(db, gw, admin):
    made = generate(admin, models=["gpt-4o"], key_alias="audited")
    key = made["key"]
    admin.post("/key/update", json={"key": key, "rpm_limit": 10}, headers={"litellm-changed-by": "alice@example.com"})
    admin.post("/key/block", json={"key": key})
    admin.post("/key/delete", json={"keys": [key]})
    audit = rows(db, gw, AUDIT)
    assert [r["action"] for r in audit] == ["key.generate", "key.update", "key.block", "key.delete"]
    assert {r["object_id"] for r in audit} == {made["token"]} and {r["actor"] for r in audit} == {"master_key"}
    assert [r["changed_by"] for r in audit] == [None, "alice@example.com", None, None]
    assert audit[0]["before"] is None and audit[0]["after"]["key_alias"] == "audited"
    assert audit[1]["before"]["rpm_limit"] is None and audit[1]["after"]["rpm_limit"] == 10
    assert audit[3]["after"] is None and audit[3]["before"]["blocked"] is True
    assert all(r["at"] is not None for r in audit)
    assert key not in orjson.dumps(audit, default=str).decode()


def test_the_database_holds_only_the_hash(db, gw, admin):
    made = generate(admin, key_alias="hashed")
    (row,) = rows(db, gw, KEYS)
    assert row["token"] == hashlib.sha256(made["key"].encode()).hexdigest()
    assert made["key"] not in orjson.dumps(row, default=str).decode()
    backend, _ = db
    if backend == "sqlite":
        files = list(gw.data_dir.glob("relaykit.db*"))
        assert files and all(made["key"].encode() not in f.read_bytes() for f in files)


def test_users_and_budgets(gw, admin):
    budget = admin.post("/budget/new", json={"budget_id": "small", "max_budget": 1.0, "budget_duration": "30d"})
    assert budget.status_code == 200 and budget.json()["budget_id"] == "small"
    assert admin.post("/budget/new", json={"budget_id": "small"}).status_code == 400
    team_id = admin.post("/team/new", json={}).json()["team_id"]
    user = admin.post("/user/new", json={"user_id": "u1", "user_email": "u1@example.com", "teams": [team_id],
                                          "models": ["gpt-4o"], "budget_id": "small"})
    assert user.status_code == 200
    made = user.json()
    assert made["user_id"] == "u1" and made["user_role"] == "internal_user" and made["key"].startswith("sk-")
    assert chat(gw, made["key"], "gpt-4o").status_code == 200 and chat(gw, made["key"], "o3").status_code == 403
    info = admin.get("/user/info", params={"user_id": "u1"}).json()
    assert info["user_info"]["user_email"] == "u1@example.com" and [t["team_id"] for t in info["teams"]] == [team_id]
    assert [k["token"] for k in info["keys"]] == [made["token"]]
    assert admin.post("/user/new", json={"user_id": "u1"}).status_code == 400
    assert admin.post("/user/new", json={"teams": ["nope"]}).json()["error"]["param"] == "teams[0]"
    assert admin.get("/user/info", params={"user_id": "nobody"}).status_code == 404


def test_a_cached_key_needs_no_database(db, gw, admin):
    """With the keys table gone from under the gateway, a key it has already checked keeps working (served from
    memory), while a key it has never seen needs the database and fails with a 503."""
    first = generate(admin)["key"]
    assert chat(gw, first, "gpt-4o").status_code == 200
    unseen = "sk-made-elsewhere-" + "u" * 32  # written by another process: this one has never looked it up
    insert(db, gw, KEYS, {"token": hashlib.sha256(unseen.encode()).hexdigest(), "created_at": NOW, "updated_at": NOW})
    rename(db, gw, KEYS, "relaykit_keys_away")
    try:
        assert [chat(gw, first, "gpt-4o").status_code for _ in range(20)] == [200] * 20
        reply = chat(gw, unseen, "gpt-4o")
        assert reply.status_code == 503 and reply.json()["error"]["code"] == "store_unavailable"
    finally:
        rename(db, gw, "relaykit_keys_away", KEYS)
    assert chat(gw, unseen, "gpt-4o").status_code == 200


def rename(db, gw, old: str, new: str) -> None:
    backend, url = db
    if backend == "sqlite":
        import sqlite3

        with sqlite3.connect(gw.data_dir / "relaykit.db") as conn:
            conn.execute(f'ALTER TABLE "{old}" RENAME TO "{new}"')
        return

    async def run():
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f'ALTER TABLE "{old}" RENAME TO "{new}"')
        finally:
            await conn.close()

    asyncio.run(run())
