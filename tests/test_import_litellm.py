"""`relaykit import-litellm` against a LiteLLM proxy database built from LiteLLM's documented schema (schema.prisma)
in a scratch PostgreSQL schema: the real CLI as a subprocess into a SQLite store and a PostgreSQL store, then the
real gateway on that store, where the imported keys work (openai SDK), keep their model limits, blocks and expiry,
and carry their spend; a second run changes nothing; an unreachable or foreign database is a clear error."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from kernel.config import GeneralSettings, Settings
from kernel.store import make_store
from kernel.store.migrations import AUDIT, KEYS, TEAMS, USERS
from tests.servers import free_port
from tests.stores import postgres_schema

MASTER = "sk-import-test-master-5c0e9b7d21"
ROOT = Path(__file__).resolve().parent.parent
HI = [{"role": "user", "content": "hi"}]

# LiteLLM's tables as its Prisma schema declares them (String → text, Float → double precision, Int → integer,
# BigInt → bigint, DateTime → timestamp(3), Json → jsonb, String[] → text[]); the user table is an older
# release's, without the columns later versions added, so the import must select only what exists.
LITELLM_DDL = """
CREATE TABLE "LiteLLM_BudgetTable" (
  budget_id text PRIMARY KEY, max_budget double precision, soft_budget double precision,
  max_parallel_requests integer, tpm_limit bigint, rpm_limit bigint, model_max_budget jsonb,
  budget_duration text, budget_reset_at timestamp(3), created_at timestamp(3) NOT NULL DEFAULT now(),
  created_by text NOT NULL, updated_at timestamp(3) NOT NULL DEFAULT now(), updated_by text NOT NULL);
CREATE TABLE "LiteLLM_ModelTable" (
  id serial PRIMARY KEY, aliases jsonb, created_at timestamp(3) NOT NULL DEFAULT now(), created_by text NOT NULL,
  updated_at timestamp(3) NOT NULL DEFAULT now(), updated_by text NOT NULL);
CREATE TABLE "LiteLLM_TeamTable" (
  team_id text PRIMARY KEY, team_alias text, organization_id text, object_permission_id text, admins text[],
  members text[], members_with_roles jsonb NOT NULL DEFAULT '{}', metadata jsonb NOT NULL DEFAULT '{}',
  max_budget double precision, soft_budget double precision, spend double precision NOT NULL DEFAULT 0,
  models text[], max_parallel_requests integer, tpm_limit bigint, rpm_limit bigint, budget_duration text,
  budget_reset_at timestamp(3), blocked boolean NOT NULL DEFAULT false,
  created_at timestamp(3) NOT NULL DEFAULT now(), updated_at timestamp(3) NOT NULL DEFAULT now(),
  model_spend jsonb NOT NULL DEFAULT '{}', model_max_budget jsonb NOT NULL DEFAULT '{}',
  router_settings jsonb DEFAULT '{}', model_id integer UNIQUE REFERENCES "LiteLLM_ModelTable"(id));
CREATE TABLE "LiteLLM_UserTable" (
  user_id text PRIMARY KEY, user_alias text, team_id text, organization_id text, password text,
  teams text[] NOT NULL DEFAULT '{}', user_role text, max_budget double precision,
  spend double precision NOT NULL DEFAULT 0, user_email text, models text[], metadata jsonb NOT NULL DEFAULT '{}',
  max_parallel_requests integer, tpm_limit bigint, rpm_limit bigint, budget_duration text,
  budget_reset_at timestamp(3));
CREATE TABLE "LiteLLM_VerificationToken" (
  token text PRIMARY KEY, key_name text, key_alias text, soft_budget_cooldown boolean NOT NULL DEFAULT false,
  spend double precision NOT NULL DEFAULT 0, expires timestamp(3), models text[], aliases jsonb NOT NULL DEFAULT '{}',
  config jsonb NOT NULL DEFAULT '{}', router_settings jsonb DEFAULT '{}', user_id text, team_id text,
  permissions jsonb NOT NULL DEFAULT '{}', max_parallel_requests integer, metadata jsonb NOT NULL DEFAULT '{}',
  blocked boolean, tpm_limit bigint, rpm_limit bigint, max_budget double precision, budget_duration text,
  budget_reset_at timestamp(3), allowed_cache_controls text[] DEFAULT '{}', allowed_routes text[] DEFAULT '{}',
  model_spend jsonb NOT NULL DEFAULT '{}', model_max_budget jsonb NOT NULL DEFAULT '{}',
  budget_id text REFERENCES "LiteLLM_BudgetTable"(budget_id), organization_id text, object_permission_id text,
  created_at timestamp(3) DEFAULT now(), created_by text, updated_at timestamp(3) DEFAULT now(), updated_by text,
  last_active timestamp(3), rotation_count integer DEFAULT 0, last_rotation_at timestamp(3));
"""


def sk(name: str) -> str:
    """A LiteLLM-style key: what the user holds. The database only ever sees its hash."""
    return "sk-" + hashlib.sha256(f"import-test-{name}".encode()).hexdigest()[:32]


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


KEY_OK, KEY_BLOCKED, KEY_EXPIRED, KEY_ANY, KEY_DUP = (sk(n) for n in ("ok", "blocked", "expired", "any", "dup"))
TOKENS = [sha(k) for k in (KEY_OK, KEY_BLOCKED, KEY_EXPIRED, KEY_ANY, KEY_DUP)]


async def _fill(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(LITELLM_DDL)
        await conn.execute("""INSERT INTO "LiteLLM_BudgetTable" (budget_id, max_budget, soft_budget, created_by,
                              updated_by) VALUES ('bud-soft', 20, 5, 'admin', 'admin')""")
        await conn.execute("""INSERT INTO "LiteLLM_ModelTable" (id, aliases, created_by, updated_by)
                              VALUES (1, '{"fast": "gpt-4o-mini"}', 'admin', 'admin')""")
        await conn.execute("""INSERT INTO "LiteLLM_TeamTable" (team_id, team_alias, models, spend, max_budget,
                              model_id, members_with_roles, model_spend) VALUES ('team-eng', 'Engineering',
                              '{gpt-4o,gpt-4o-mini}', 3.5, 100, 1, '[{"role": "admin", "user_id": "u-alice"}]',
                              '{"gpt-4o-mini": 3.5}')""")
        await conn.execute("""INSERT INTO "LiteLLM_TeamTable" (team_id, models, admins, members)
                              VALUES ('team-old', '{all-proxy-models}', '{u-bob}', '{u-bob,u-carol}')""")
        await conn.execute("""INSERT INTO "LiteLLM_UserTable" (user_id, user_email, user_role, password, teams,
                              team_id, spend, models) VALUES ('u-alice', 'alice@example.com', 'internal_user',
                              'pbkdf2-not-for-copying', '{}', 'team-eng', 2.25, '{}')""")
        insert = """INSERT INTO "LiteLLM_VerificationToken" (token, key_name, key_alias, models, spend, model_spend,
                    team_id, user_id, budget_id, blocked, expires, metadata, config, created_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"""
        old, new = datetime(2024, 1, 1), datetime(2024, 6, 1)
        await conn.execute(insert, sha(KEY_OK), "sk-...ok", "ci-bot", ["gpt-4o-mini"], 1.75, '{"gpt-4o-mini": 1.75}',
                           "team-eng", "u-alice", "bud-soft", False, None,
                           '{"model_rpm_limit": {"gpt-4o-mini": 7}, "tags": ["ci"]}', '{"x": 1}', old)
        await conn.execute(insert, sha(KEY_BLOCKED), None, "blocked", [], 0.5, "{}", None, None, None, True, None,
                           "{}", "{}", old)
        await conn.execute(insert, sha(KEY_EXPIRED), None, None, [], 0.0, "{}", None, None, None, None,
                           datetime(2020, 1, 1), "{}", "{}", old)
        await conn.execute(insert, sha(KEY_ANY), None, None, [], 0.0, "{}", None, None, None, None, None, "{}", "{}",
                           None)
        await conn.execute(insert, sha(KEY_DUP), None, "ci-bot", [], 0.0, "{}", None, None, None, False, None, "{}",
                           "{}", new)
    finally:
        await conn.close()


@pytest.fixture
def litellm_db():
    """A LiteLLM proxy database: LiteLLM's tables in a scratch schema, with keys, teams, users and budgets."""
    with postgres_schema() as url:
        asyncio.run(_fill(url))
        yield url


def import_litellm(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "RELAYKIT_MASTER_KEY")}
    return subprocess.run([sys.executable, "-m", "kernel.serve.cli", "import-litellm", *args], capture_output=True,
                          text=True, timeout=60, env={**env, "PYTHONPATH": str(ROOT)})


def no_secrets(proc: subprocess.CompletedProcess) -> None:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert not any(t in out for t in TOKENS), "a whole key hash was printed"
    assert "pbkdf2-not-for-copying" not in out


def on_store(settings: Settings, work):
    async def go():
        store = make_store(settings)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    """(CLI arguments naming the store, general_settings for the gateway, Settings to open it in the test)."""
    if request.param == "sqlite":
        data = tmp_path / "data"
        yield ["--data-dir", str(data)], {}, Settings(data_dir=str(data))
        return
    with postgres_schema() as url:
        yield ["--database-url", url], {"database_url": url}, Settings(general=GeneralSettings(database_url=url))


def test_imported_keys_keep_working(litellm_db, target, fake_openai, start_gateway):
    where, general, settings = target
    dry = import_litellm("--from", litellm_db, *where, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    no_secrets(dry)
    assert "would create key " + sha(KEY_OK)[:12] in dry.stdout
    assert "keys: 5 to create, 0 to update, 0 unchanged" in dry.stdout
    assert on_store(settings, lambda s: s.count(KEYS)) == 0  # a dry run writes nothing

    done = import_litellm("--from", litellm_db, *where)
    assert done.returncode == 0, done.stderr
    no_secrets(done)
    for kind, n in (("budgets", 1), ("teams", 2), ("users", 1), ("keys", 5)):
        assert f"{kind}: {n} created, 0 updated, 0 unchanged" in done.stdout
    assert "alias 'ci-bot' is taken" in done.stderr  # LiteLLM let two keys share an alias; relaykit does not

    gw = start_gateway({
        "model_list": [{"model_name": m, "litellm_params": {"model": f"openai/{m}", "api_base": fake_openai.url + "/v1",
                                                            "api_key": "sk-upstream"}} for m in ("gpt-4o", "gpt-4o-mini")],
        "general_settings": {"master_key": MASTER, **general},
    }, data_dir=Path(settings.data_dir) if settings.data_dir else None)

    def client(key: str) -> openai.OpenAI:
        return openai.OpenAI(api_key=key, base_url=gw.url + "/v1", max_retries=0)

    reply = client(KEY_OK).chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert reply.choices[0].message.content
    assert len(fake_openai.requests) == 1
    with pytest.raises(openai.PermissionDeniedError) as denied:  # the key's models came across
        client(KEY_OK).chat.completions.create(model="gpt-4o", messages=HI)
    assert "gpt-4o" in str(denied.value)
    with pytest.raises(openai.AuthenticationError) as blocked:
        client(KEY_BLOCKED).chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert blocked.value.code == "key_blocked"
    with pytest.raises(openai.AuthenticationError) as expired:
        client(KEY_EXPIRED).chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert expired.value.code == "key_expired"
    assert len(fake_openai.requests) == 1  # no refusal reached the upstream
    assert client(KEY_ANY).chat.completions.create(model="gpt-4o", messages=HI).choices  # models [] = every model

    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {MASTER}"}, timeout=30) as admin:
        info = admin.get("/key/info", params={"key": KEY_OK}).json()["info"]
        assert info["spend"] == 1.75 and info["model_spend"] == {"gpt-4o-mini": 1.75}
        assert info["soft_budget"] == 5.0 and info["budget_id"] == "bud-soft"  # LiteLLM keeps it in the budget
        assert info["model_rpm_limit"] == {"gpt-4o-mini": 7}  # LiteLLM keeps it in metadata
        assert info["metadata"]["tags"] == ["ci"] and info["metadata"]["litellm"]["config"] == {"x": 1}
        assert info["key_alias"] == "ci-bot" and info["team_id"] == "team-eng" and info["user_id"] == "u-alice"
        dup = admin.get("/key/info", params={"key": KEY_DUP}).json()["info"]
        assert dup["key_alias"] is None and dup["metadata"]["litellm"]["key_alias"] == "ci-bot"
        assert admin.get("/key/info", params={"key": KEY_BLOCKED}).json()["info"]["spend"] == 0.5
        team = admin.get("/team/info", params={"team_id": "team-eng"}).json()
        assert "3.5" in orjson.dumps(team).decode()
        user = admin.get("/user/info", params={"user_id": "u-alice"}).json()
        assert "2.25" in orjson.dumps(user).decode() and "pbkdf2" not in orjson.dumps(user).decode()

    teams = {t["team_id"]: t for t in on_store(settings, lambda s: s.find(TEAMS))}
    assert teams["team-eng"]["aliases"] == {"fast": "gpt-4o-mini"}  # resolved from LiteLLM_ModelTable
    assert teams["team-eng"]["members_with_roles"] == [{"role": "admin", "user_id": "u-alice"}]
    assert teams["team-old"]["models"] == []  # all-proxy-models
    assert teams["team-old"]["members_with_roles"] == [{"role": "admin", "user_id": "u-bob"},
                                                       {"role": "user", "user_id": "u-carol"}]
    (alice,) = on_store(settings, lambda s: s.find(USERS))
    assert alice["teams"] == ["team-eng"] and alice["spend"] == 2.25
    audit = on_store(settings, lambda s: s.find(AUDIT))
    assert len(audit) == 9 and {a["actor"] for a in audit} == {"import-litellm"}
    assert {a["object_id"] for a in audit if a["object_type"] == "key"} == set(TOKENS)


def test_second_run_updates_and_never_duplicates(litellm_db, tmp_path):
    where = ["--data-dir", str(tmp_path / "data")]
    settings = Settings(data_dir=str(tmp_path / "data"))
    assert import_litellm("--from", litellm_db, *where).returncode == 0
    again = import_litellm("--from", litellm_db, *where)
    assert again.returncode == 0, again.stderr
    assert "keys: 0 created, 0 updated, 5 unchanged" in again.stdout
    assert on_store(settings, lambda s: s.count(AUDIT)) == 9  # nothing changed, nothing audited

    asyncio.run(_execute_in(litellm_db, """UPDATE "LiteLLM_VerificationToken" SET spend = 4.5, blocked = true
                                           WHERE key_alias = 'ci-bot' AND team_id = 'team-eng'"""))
    dry = import_litellm("--from", litellm_db, *where, "--dry-run")
    assert f"would update key {sha(KEY_OK)[:12]}… (ci-bot): blocked, spend" in dry.stdout
    third = import_litellm("--from", litellm_db, *where)
    assert "keys: 0 created, 1 updated, 4 unchanged" in third.stdout
    assert on_store(settings, lambda s: s.count(KEYS)) == 5
    row = on_store(settings, lambda s: s.get(KEYS, sha(KEY_OK)))
    assert row["spend"] == 4.5 and row["blocked"] is True
    audit = on_store(settings, lambda s: s.find(AUDIT, {"action": "key.import", "object_id": sha(KEY_OK)},
                                                order=[("id", False)]))
    assert len(audit) == 2 and audit[1]["before"]["spend"] == 1.75 and audit[1]["after"]["spend"] == 4.5


async def _execute_in(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def test_an_older_litellm_with_fewer_tables_and_columns(tmp_path):
    """A release with only the key table, and few of today's columns: the import takes what there is."""
    with postgres_schema() as url:
        asyncio.run(_execute_in(url, """CREATE TABLE "LiteLLM_VerificationToken" (token text PRIMARY KEY,
            spend double precision NOT NULL DEFAULT 0, expires timestamp(3), models text[], user_id text,
            max_budget double precision)"""))
        raw = sk("legacy")  # the oldest releases stored the key itself
        asyncio.run(_execute_in(url, f"""INSERT INTO "LiteLLM_VerificationToken" VALUES ('{sha(KEY_OK)}', 0.25, NULL,
            '{{gpt-4o}}', 'u-x', 10), ('{raw}', 0, NULL, '{{}}', NULL, NULL)"""))
        done = import_litellm("--from", url, "--data-dir", str(tmp_path / "data"))
        assert done.returncode == 0, done.stderr
        assert raw not in done.stdout + done.stderr and "Traceback" not in done.stderr
        assert "has no LiteLLM_BudgetTable, LiteLLM_TeamTable, LiteLLM_UserTable" in done.stdout
    settings = Settings(data_dir=str(tmp_path / "data"))
    row = on_store(settings, lambda s: s.get(KEYS, sha(KEY_OK)))
    assert row["models"] == ["gpt-4o"] and row["spend"] == 0.25 and row["max_budget"] == 10.0
    legacy = on_store(settings, lambda s: s.get(KEYS, sha(raw)))
    assert legacy is not None and legacy["key_name"] == f"sk-...{raw[-4:]}"


def test_unreachable_database_is_a_clear_error(tmp_path):
    password = "hunter2-never-printed"
    url = f"postgresql://someone:{password}@127.0.0.1:{free_port()}/litellm"
    proc = import_litellm("--from", url, "--data-dir", str(tmp_path / "data"))
    assert proc.returncode == 1
    assert "cannot connect to the LiteLLM database postgresql://someone@127.0.0.1:" in proc.stderr
    assert password not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()  # the destination was not even opened


def test_a_database_that_is_not_litellms_is_a_clear_error(tmp_path):
    with postgres_schema() as url:
        proc = import_litellm("--from", url, "--data-dir", str(tmp_path / "data"))
    assert proc.returncode == 1
    assert "is not a LiteLLM proxy database" in proc.stderr and "LiteLLM_VerificationToken" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_from_must_be_a_postgres_url(tmp_path):
    proc = import_litellm("--from", "mysql://x@localhost/db", "--data-dir", str(tmp_path / "data"))
    assert proc.returncode == 2 and "--from must be the LiteLLM proxy's PostgreSQL URL" in proc.stderr


def test_mapping_of_what_differs():
    """The pure mapping, for the cases the database tests do not reach."""
    from kernel.serve import litellm_map as m

    assert m.utc(datetime(2024, 5, 1, 12)).isoformat() == "2024-05-01T12:00:00+00:00"  # Prisma's naive UTC
    assert m.key_token("A" * 64) == "a" * 64 and m.key_token("not-a-hash") is None
    assert m.key_token(KEY_OK) == sha(KEY_OK)
    row = m.key_row({"token": sha(KEY_OK), "models": ["all-proxy-models"], "blocked": None, "spend": None,
                     "metadata": '{"model_tpm_limit": {"m": 5}}', "allowed_routes": [], "budget_id": "b"},
                    {"budget_id": "b", "soft_budget": 2})
    assert row["models"] == [] and row["model_tpm_limit"] == {"m": 5} and row["metadata"] == {}
    assert row["soft_budget"] == 2.0 and "blocked" not in row and "spend" not in row  # NULL → relaykit's default
    assert "password" not in m.user_row({"user_id": "u", "password": "x"})
    assert m.changed({"spend": 1.0, "x": 1}, {"spend": 1.0}) == {}  # a column LiteLLM lacks is never reset
