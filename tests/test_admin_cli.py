"""`relaykit keys ...` and `relaykit spend` as a user runs them: the real command, as a subprocess, against a real
relaykit process on SQLite and PostgreSQL; server refusals printed plainly with exit 1, never a traceback."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from kernel.config import GeneralSettings, Settings
from kernel.store import Insert, make_store
from kernel.store.migrations import DAILY_SPEND
from tests.cli_process import Relaykit
from tests.stores import settings_for

MASTER = "sk-admin-cli-master-5b2d90e7a4"
ROOT = Path(__file__).resolve().parent.parent
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def served(database, tmp_path):
    backend, url = database
    config = {"model_list": [{"model_name": m, "litellm_params": {"model": "echo/x"}} for m in ("a", "b", "c")],
              "general_settings": {"master_key": MASTER, **settings_for(backend, url)}}
    with Relaykit(["--data-dir", str(tmp_path / "data")], config=config, tmp_path=tmp_path) as rk:
        rk.database = database
        rk.data_dir = tmp_path / "data"
        yield rk


def cli(rk, *args: str, master: str | None = MASTER, env_name: str = "RELAYKIT_MASTER_KEY") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RELAYKIT_MASTER_KEY", "LITELLM_MASTER_KEY")}
    env["PYTHONPATH"] = str(ROOT)
    if master:
        env[env_name] = master
    return subprocess.run([sys.executable, "-m", "kernel.serve.cli", *args, "--url", rk.url], capture_output=True,
                          text=True, timeout=60, env=env)


def ok(rk, *args: str, **kw) -> str:
    done = cli(rk, *args, **kw)
    assert done.returncode == 0, done.stderr
    return done.stdout


def refused(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""
    return done.stderr


def chat(rk, key: str, model: str) -> httpx.Response:
    return httpx.post(rk.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": model, "messages": HI}, timeout=30)


def key_of(output: str) -> str:
    return next(line.split()[1] for line in output.splitlines() if line.startswith("key:"))


def test_create_list_and_revoke_a_key(served):
    made = ok(served, "keys", "create", "--models", "a,b", "--rpm", "10", "--budget", "1", "--duration", "30d",
              "--alias", "search-app", "--tpm", "5000")
    key = key_of(made)
    assert key.startswith("sk-") and "shown once" in made
    assert "models:  a, b" in made and "rpm:     10" in made and "budget:  $1.0000" in made
    info = httpx.get(served.url + "/key/info", params={"key": key}, headers={"authorization": f"Bearer {MASTER}"}).json()
    assert info["info"]["models"] == ["a", "b"] and info["info"]["rpm_limit"] == 10
    assert info["info"]["tpm_limit"] == 5000 and info["info"]["max_budget"] == 1.0
    expires = datetime.fromisoformat(info["info"]["expires"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    assert chat(served, key, "a").status_code == 200 and chat(served, key, "c").status_code == 403

    other = key_of(ok(served, "keys", "create"))
    listed = ok(served, "keys", "list").splitlines()
    assert listed[0].split()[:4] == ["ALIAS", "KEY", "TEAM", "MODELS"] and listed[-1] == "2 key(s)"
    row = next(line for line in listed if line.startswith("search-app"))
    assert f"sk-...{key[-4:]}" in row and "a, b" in row and "$1.0000" in row and key not in row
    assert any(f"sk-...{other[-4:]}" in line and "(all)" in line for line in listed)

    assert "revoked search-app" in ok(served, "keys", "revoke", "search-app")
    assert chat(served, key, "a").status_code == 401
    assert "revoked" in ok(served, "keys", "revoke", other)  # by the key itself
    assert chat(served, other, "a").status_code == 401
    assert ok(served, "keys", "list").splitlines()[-1] == "0 key(s)"


def test_server_refusals_are_printed_plainly_with_exit_1(served):
    err = refused(cli(served, "keys", "create", "--duration", "forever"))
    assert "400" in err and "duration" in err and "forever" in err
    assert "404" in refused(cli(served, "keys", "revoke", "no-such-alias"))
    virtual = key_of(ok(served, "keys", "create"))
    err = refused(cli(served, "keys", "list", master=virtual))
    assert "403" in err and "master key" in err
    assert "401" in refused(cli(served, "spend", master="sk-not-a-key-at-all-0000"))
    assert "no master key" in refused(cli(served, "keys", "list", master=None))
    assert "--since" in refused(cli(served, "spend", "--since", "last-tuesday"))
    nowhere = subprocess.run([sys.executable, "-m", "kernel.serve.cli", "keys", "list", "--url", "http://127.0.0.1:9"],
                             capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PYTHONPATH": str(ROOT), "RELAYKIT_MASTER_KEY": MASTER})
    assert "cannot reach relaykit at http://127.0.0.1:9" in refused(nowhere)


def test_litellm_master_key_variable_is_read_too(served):
    assert ok(served, "keys", "list", env_name="LITELLM_MASTER_KEY").splitlines()[-1] == "0 key(s)"


def put_daily(rk, rows: list[dict]) -> None:
    backend, url = rk.database
    general = GeneralSettings(database_url=url if backend == "postgresql" else None)

    async def run():
        store = make_store(Settings(general=general, data_dir=str(rk.data_dir)))
        await store.open()
        try:
            await store.write([Insert(DAILY_SPEND, r) for r in rows])
        finally:
            await store.close()

    asyncio.run(run())


def test_spend_tables_by_model_key_team_and_day(served):
    key = key_of(ok(served, "keys", "create", "--alias", "search-app"))
    token = hashlib.sha256(key.encode()).hexdigest()
    today = datetime.now(UTC).date()
    day = [(today - timedelta(days=n)).isoformat() for n in range(12)]
    put_daily(served, [
        {"date": day[0], "api_key": token, "team_id": "t1", "model_group": "a", "spend": 1.5, "api_requests": 3,
         "prompt_tokens": 30, "completion_tokens": 3},
        {"date": day[2], "api_key": token, "team_id": "t1", "model_group": "b", "spend": 0.25, "api_requests": 1,
         "prompt_tokens": 10, "completion_tokens": 1},
        {"date": day[2], "api_key": "c" * 64, "model_group": "a", "spend": 0.5, "api_requests": 2,
         "prompt_tokens": 20, "completion_tokens": 2},
        {"date": day[11], "api_key": token, "model_group": "b", "spend": 40.0, "api_requests": 1}])  # before 7d

    by_model = ok(served, "spend", "--by", "model", "--since", "7d").splitlines()
    assert by_model[0] == f"spend by model, {day[7]} to {day[0]} (UTC)"
    assert by_model[1].split() == ["MODEL", "SPEND", "TOKENS"]
    assert [line.split() for line in by_model[3:]] == [["a", "$2.0000", "55"], ["b", "$0.2500", "11"],
                                                       ["total", "$2.2500", "66"]]
    by_key = [line.split() for line in ok(served, "spend", "--by", "key").splitlines()[3:]]
    assert by_key[0] == ["search-app", f"sk-...{key[-4:]}", "$1.7500", "40", "4"]
    assert by_key[1][0] == "cccccccccccc…" and by_key[1][1] == "$0.5000"
    assert by_key[-1] == ["total", "$2.2500"]
    by_team = [line.split() for line in ok(served, "spend", "--by", "team", "--since", "2w").splitlines()[3:]]
    assert by_team == [["Unassigned", "Team", "$40.5000", "22"], ["t1", "$1.7500", "44"], ["total", "$42.2500", "66"]]
    by_day = ok(served, "spend", "--by", "day", "--since", day[3]).splitlines()
    assert [line.split()[:3] for line in by_day[3:]] == [[day[3], "$0.0000", "0"], [day[2], "$0.7500", "3"],
                                                        [day[1], "$0.0000", "0"], [day[0], "$1.5000", "3"],
                                                        ["total", "$2.2500", "6"]]
