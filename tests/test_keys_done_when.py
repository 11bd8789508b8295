"""The keys issue's "done when", as one user would live it, on SQLite and on PostgreSQL: a key limited to two
models, 10 requests a minute and $1 is handed out; it is refused with the right error on the 11th request of a
minute and once the dollar is spent; its spend is then read by model and by day from the reports, and by the
`relaykit spend` command."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import openai
import pytest

from tests.stores import settings_for
from tests.test_keys_e2e import on_store
from tests.test_rate_limits import Clock
from tests.test_spend_e2e import HI, eventually

MASTER = "sk-done-when-master-8b3f1e29d4"
QUARTER = 0.25  # USD: what one gpt-4o call costs here (12 output tokens priced to make it so)
ROOT = Path(__file__).resolve().parent.parent


def priced(name: str, base: str, out_cost: float) -> dict:
    return {"model_name": name, "litellm_params": {"model": f"openai/{name}", "api_base": base + "/v1",
                                                   "api_key": "sk-upstream"},
            "model_info": {"input_cost_per_token": 0.0, "output_cost_per_token": out_cost}}


def test_a_key_for_two_models_ten_a_minute_and_one_dollar(database, fake_openai, start_gateway):
    backend, url = database
    gw = start_gateway({
        "model_list": [priced("gpt-4o", fake_openai.url, QUARTER / 12), priced("gpt-4o-mini", fake_openai.url, 0.0),
                       priced("o3", fake_openai.url, 0.0)],
        "general_settings": {"master_key": MASTER, "proxy_batch_write_at": 0.05, **settings_for(backend, url)},
    })
    clock = gw.server.config.app.gateway.shared["rate_limits"].clock = Clock(1_800_000_000.0)
    admin = httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {MASTER}"}, timeout=30)
    made = admin.post("/key/generate", json={"models": ["gpt-4o", "gpt-4o-mini"], "rpm_limit": 10,
                                             "max_budget": 1.0, "key_alias": "handed-out"}).json()
    client = openai.OpenAI(api_key=made["key"], base_url=gw.url + "/v1", max_retries=0)

    with pytest.raises(openai.PermissionDeniedError) as other_model:
        client.chat.completions.create(model="o3", messages=HI)
    assert "'o3'" in other_model.value.body["message"]

    for _ in range(9):  # the refused o3 call was not counted against the minute
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    seen = len(fake_openai.requests)
    tenth = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI)
    assert tenth.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(openai.RateLimitError) as eleventh:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert eleventh.value.body["type"] == "rate_limit_error" and "rpm limit 10" in eleventh.value.body["message"]
    assert int(eleventh.value.response.headers["retry-after"]) >= 1
    assert len(fake_openai.requests) == seen + 1  # the 11th never reached the upstream

    clock.now += 60  # the next minute: calls pass until the dollar is spent
    for _ in range(4):
        client.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=12)
    with pytest.raises(openai.RateLimitError) as broke:
        client.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=12)
    assert broke.value.body["type"] == "budget_exceeded"
    assert broke.value.body["message"].startswith("Budget has been exceeded! Current cost: 1, Max budget: 1")

    eventually(database, gw, lambda s: s.find("relaykit_daily_spend", {"api_key": made["token"]}),
               lambda rows: sum(r["api_requests"] for r in rows) >= 16)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    dates = {"start_date": today, "end_date": today}
    by_model = admin.get("/global/spend/report", params={**dates, "group_by": "model"}).json()
    assert {m["model_group"]: m["total_spend"] for m in by_model[0]["models"]} == \
        pytest.approx({"gpt-4o": 1.0, "gpt-4o-mini": 0.0})
    by_day = admin.get("/global/spend/report", params={**dates, "group_by": "day"}).json()
    assert by_day[0]["group_by_day"] == today and by_day[0]["total_spend"] == pytest.approx(1.0)
    assert by_day[0]["api_requests"] == 16  # 10 + the refused 11th + 4 + the refused budget call

    table = subprocess.run([sys.executable, "-m", "kernel.serve.cli", "spend", "--by", "model", "--since", "7d",
                            "--url", gw.url], capture_output=True, text=True, timeout=60, cwd=ROOT,
                           env={**os.environ, "RELAYKIT_MASTER_KEY": MASTER, "PYTHONPATH": str(ROOT)})
    assert table.returncode == 0, table.stderr
    line = next(x for x in table.stdout.splitlines() if x.split() and x.split()[0] == "gpt-4o")
    assert "1.0" in line
    info = admin.get("/key/info", params={"key": made["key"]}).json()["info"]
    assert info["spend"] == pytest.approx(1.0) and on_store(database, gw, lambda s: s.count("relaykit_spend_logs")) == 16
