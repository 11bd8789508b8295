"""Cost, spend and budgets through the real gateway on SQLite and PostgreSQL, with the real openai and anthropic
SDKs: the cost headers, the spend rows and counters the writer stores, budgets refused before anything goes
upstream (key, team, per model, global), 40 calls at once on a budget that covers 10, budget periods that reset
on their boundary, a stream's usage asked for and kept from the client, and disable_spend_logs."""

from __future__ import annotations

import asyncio
import time

import anthropic
import httpx
import openai
import pytest

from kernel.store.migrations import DAILY_SPEND, KEYS, SPEND_LOGS, TEAMS
from tests.stores import settings_for
from tests.test_keys_e2e import on_store

MASTER = "sk-spend-e2e-master-5c2e9f13ab"
HI = [{"role": "user", "content": "hi"}]
IN, OUT = 1e-6, 1e-3  # USD per token, set in model_info so every cost here is exact arithmetic
CALL_COST = 9 * IN + 12 * OUT  # the fake upstream reports 9 prompt and 12 completion tokens per chat call


def deployment(name: str, upstream: str, base: str) -> dict:
    return {"model_name": name, "litellm_params": {"model": f"openai/{upstream}", "api_base": base + "/v1",
                                                   "api_key": "sk-upstream"},
            "model_info": {"input_cost_per_token": IN, "output_cost_per_token": OUT}}


def config(db, fake_openai, **extra) -> dict:
    backend, url = db
    litellm = extra.pop("litellm_settings", {})
    return {
        "model_list": [deployment("gpt-4o", "gpt-4o", fake_openai.url), deployment("o3", "o3", fake_openai.url),
                       deployment("slow", "slow-0.4", fake_openai.url),
                       deployment("broken", "policy", fake_openai.url)],
        "litellm_settings": litellm,
        "general_settings": {"master_key": MASTER, "proxy_batch_write_at": 0.05, **settings_for(backend, url),
                             **extra},
    }


@pytest.fixture
def gw(database, fake_openai, start_gateway):
    return start_gateway(config(database, fake_openai))


@pytest.fixture
def admin(gw):
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {MASTER}"}, timeout=30) as client:
        yield client


def generate(admin, **body) -> dict:
    reply = admin.post("/key/generate", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def sdk(gw, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=gw.url + "/v1", max_retries=0)


def eventually(db, gw, work, ready, timeout: float = 15.0):
    """Poll the store (as another process would) until `ready(result)`; the writer runs every 50 ms here."""
    deadline = time.monotonic() + timeout
    while True:
        result = on_store(db, gw, work)
        if ready(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def spend_rows(db, gw, n: int) -> list[dict]:
    return eventually(db, gw, lambda s: s.find(SPEND_LOGS), lambda rows: len(rows) >= n)


# -- cost, headers, rows ---------------------------------------------------------------------------------------


def test_each_call_is_priced_returned_in_headers_and_logged_once(database, gw, admin, fake_openai):
    made = generate(admin, key_alias="app", max_budget=10.0, metadata={"team": "x"})
    client = sdk(gw, made["key"])
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=HI, user="end-user-7",
                                                           extra_body={"metadata": {"tags": ["t1"]}})
    assert raw.parse().choices[0].message.content == "echo: hi"
    assert float(raw.headers["x-relaykit-response-cost"]) == pytest.approx(CALL_COST)
    assert raw.headers["x-litellm-response-cost"] == raw.headers["x-relaykit-response-cost"]
    assert float(raw.headers["x-litellm-key-spend"]) == pytest.approx(CALL_COST)
    second = client.chat.completions.with_raw_response.create(model="o3", messages=HI)
    assert float(second.headers["x-relaykit-key-spend"]) == pytest.approx(2 * CALL_COST)

    rows = sorted(spend_rows(database, gw, 2), key=lambda r: r["start_time"])
    assert len(rows) == 2
    first = rows[0]
    assert first["api_key"] == made["token"] and first["key_alias"] == "app" and first["end_user"] == "end-user-7"
    assert (first["model_group"], first["model"], first["provider"]) == ("gpt-4o", "gpt-4o", "openai")
    assert (first["prompt_tokens"], first["completion_tokens"], first["total_tokens"]) == (9, 12, 21)
    assert first["spend"] == pytest.approx(CALL_COST) and first["cost_estimated"] is False
    assert first["status"] == "success" and first["request_tags"] == ["t1"] and first["latency_ms"] > 0
    assert made["key"] not in repr(rows)  # only the hash is stored

    key = eventually(database, gw, lambda s: s.get(KEYS, made["token"]),
                     lambda k: k["spend"] >= 2 * CALL_COST * 0.999)
    assert key["spend"] == pytest.approx(2 * CALL_COST)
    daily = on_store(database, gw, lambda s: s.find(DAILY_SPEND, {"api_key": made["token"]}))
    assert sorted(d["model_group"] for d in daily) == ["gpt-4o", "o3"]
    assert all(d["api_requests"] == d["successful_requests"] == 1 and d["prompt_tokens"] == 9 for d in daily)
    info = admin.get("/key/info", params={"key": made["key"]}).json()
    assert info["info"]["spend"] == pytest.approx(2 * CALL_COST)


def test_master_key_calls_are_logged_with_no_key_and_failures_cost_nothing(database, gw, admin, fake_openai):
    master = sdk(gw, MASTER)
    master.chat.completions.create(model="gpt-4o", messages=HI)
    with pytest.raises(openai.BadRequestError):
        master.chat.completions.create(model="broken", messages=HI)  # the upstream refuses it
    rows = {r["status"]: r for r in spend_rows(database, gw, 2)}
    assert rows["success"]["api_key"] == "" and rows["success"]["spend"] == pytest.approx(CALL_COST)
    failed = rows["failure"]
    assert failed["spend"] == 0 and failed["model_group"] == "broken" and failed["error_type"]


# -- budgets ---------------------------------------------------------------------------------------------------


def test_a_key_over_its_budget_is_refused_before_the_upstream(database, gw, admin, fake_openai):
    made = generate(admin, max_budget=2 * CALL_COST)
    client = sdk(gw, made["key"])
    client.chat.completions.create(model="gpt-4o", messages=HI)
    client.chat.completions.create(model="gpt-4o", messages=HI)
    seen = len(fake_openai.requests)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="gpt-4o", messages=HI)
    body = refused.value.body
    assert refused.value.status_code == 429 and body["type"] == "budget_exceeded"
    assert body["message"].startswith("Budget has been exceeded! Current cost: ")
    assert f"Max budget: {2 * CALL_COST:.10g}" in body["message"]
    assert len(fake_openai.requests) == seen

    claude = anthropic.Anthropic(api_key=made["key"], base_url=gw.url, max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as also:
        claude.messages.create(model="gpt-4o", max_tokens=16, messages=HI)
    assert also.value.body["error"]["type"] == "rate_limit_error"
    assert "Budget has been exceeded" in also.value.body["error"]["message"]
    assert len(fake_openai.requests) == seen

    raised = admin.post("/key/update", json={"key": made["key"], "max_budget": 1.0})
    assert raised.status_code == 200
    assert client.chat.completions.create(model="gpt-4o", messages=HI).choices[0].message.content == "echo: hi"


def test_forty_calls_at_once_on_a_budget_for_ten_let_at_most_eleven_through(database, gw, admin, fake_openai):
    made = generate(admin, max_budget=10 * CALL_COST)

    async def burst():
        async with httpx.AsyncClient(base_url=gw.url, timeout=30,
                                     limits=httpx.Limits(max_connections=40)) as client:
            async def one():
                return await client.post("/v1/chat/completions", headers={"authorization": f"Bearer {made['key']}"},
                                         json={"model": "slow", "messages": HI, "max_tokens": 12})
            return await asyncio.gather(*(one() for _ in range(40)))

    replies = asyncio.run(burst())
    passed = [r for r in replies if r.status_code == 200]
    refused = [r for r in replies if r.status_code == 429]
    assert len(passed) + len(refused) == 40
    assert 1 <= len(passed) <= 11
    assert all(r.json()["error"]["type"] == "budget_exceeded" for r in refused)
    assert len(fake_openai.requests) == len(passed)
    key = eventually(database, gw, lambda s: s.get(KEYS, made["token"]),
                     lambda k: k["spend"] >= len(passed) * CALL_COST * 0.999)
    assert key["spend"] <= 10 * CALL_COST + CALL_COST + 1e-12  # past the budget by one call's cost at most


def test_a_budget_period_resets_on_its_boundary(database, gw, admin, fake_openai):
    made = generate(admin, max_budget=CALL_COST, budget_duration="5s")
    client = sdk(gw, made["key"])
    client.chat.completions.create(model="gpt-4o", messages=HI)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o", messages=HI)
    key = eventually(database, gw, lambda s: s.get(KEYS, made["token"]), lambda k: k["budget_reset_at"] is not None)
    reset_at = key["budget_reset_at"].timestamp()
    time.sleep(max(reset_at - time.time(), 0) + 0.05)
    assert client.chat.completions.create(model="gpt-4o", messages=HI).choices[0].message.content == "echo: hi"
    key = eventually(database, gw, lambda s: s.get(KEYS, made["token"]),
                     lambda k: k["budget_reset_at"].timestamp() > reset_at)
    periods = (key["budget_reset_at"].timestamp() - reset_at) / 5  # one, unless this machine stalled a whole period
    assert periods >= 1 and periods == pytest.approx(round(periods), abs=0.01)
    assert key["spend"] == pytest.approx(CALL_COST)  # the new period's call only


def test_team_and_per_model_budgets(database, gw, admin, fake_openai):
    assert admin.post("/team/new", json={"team_id": "research", "max_budget": CALL_COST}).status_code == 200
    teammate = generate(admin, team_id="research")["key"]
    sdk(gw, teammate).chat.completions.create(model="gpt-4o", messages=HI)
    with pytest.raises(openai.RateLimitError) as team_refused:
        sdk(gw, generate(admin, team_id="research")["key"]).chat.completions.create(model="gpt-4o", messages=HI)
    assert "team 'research'" in team_refused.value.body["message"]

    per_model = generate(admin, model_max_budget={"o3": {"budget_limit": CALL_COST, "time_period": "1d"}})["key"]
    client = sdk(gw, per_model)
    client.chat.completions.create(model="o3", messages=HI)
    with pytest.raises(openai.RateLimitError) as model_refused:
        client.chat.completions.create(model="o3", messages=HI)
    assert "model 'o3'" in model_refused.value.body["message"]
    assert client.chat.completions.create(model="gpt-4o", messages=HI).choices[0].message.content == "echo: hi"
    team = eventually(database, gw, lambda s: s.get(TEAMS, "research"), lambda t: t["spend"] > 0)
    assert team["spend"] == pytest.approx(CALL_COST)


def test_the_global_budget_holds_for_every_key(database, fake_openai, start_gateway):
    gw = start_gateway(config(database, fake_openai, litellm_settings={"max_budget": CALL_COST}))
    sdk(gw, MASTER).chat.completions.create(model="gpt-4o", messages=HI)
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {MASTER}"}) as admin:
        key = generate(admin)["key"]
    with pytest.raises(openai.RateLimitError) as refused:
        sdk(gw, key).chat.completions.create(model="gpt-4o", messages=HI)
    assert "litellm_settings.max_budget" in refused.value.body["message"]


# -- streams ---------------------------------------------------------------------------------------------------


def test_a_streams_usage_is_asked_for_and_kept_from_a_client_that_did_not_ask(database, gw, admin, fake_openai):
    made = generate(admin)
    chunks = list(sdk(gw, made["key"]).chat.completions.create(model="gpt-4o", messages=HI, stream=True))
    assert chunks and all(c.choices for c in chunks)  # no usage-only chunk reached this client
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: hi"
    assert fake_openai.requests[-1]["body"]["stream_options"] == {"include_usage": True}
    row = spend_rows(database, gw, 1)[0]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (9, 12) and row["cost_estimated"] is False
    assert row["spend"] == pytest.approx(CALL_COST) and row["ttft_ms"] is not None

    asked = list(sdk(gw, made["key"]).chat.completions.create(model="gpt-4o", messages=HI, stream=True,
                                                              stream_options={"include_usage": True}))
    assert asked[-1].choices == [] and asked[-1].usage.completion_tokens == 12


def test_disable_spend_logs_keeps_counters_and_writes_no_rows(database, fake_openai, start_gateway):
    gw = start_gateway(config(database, fake_openai, disable_spend_logs=True))
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {MASTER}"}) as admin:
        made = generate(admin)
    sdk(gw, made["key"]).chat.completions.create(model="gpt-4o", messages=HI)
    key = eventually(database, gw, lambda s: s.get(KEYS, made["token"]), lambda k: k["spend"] > 0)
    assert key["spend"] == pytest.approx(CALL_COST)
    assert on_store(database, gw, lambda s: s.find(SPEND_LOGS)) == []
    assert on_store(database, gw, lambda s: s.find(DAILY_SPEND))[0]["api_requests"] == 1


def test_translated_streams_and_a_stream_with_no_usage(database, fake_openai, fake_anthropic, start_gateway):
    cfg = config(database, fake_openai)
    cfg["model_list"] += [
        {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-sonnet-4-5", "api_base": fake_anthropic.url,
                                                    "api_key": "sk-ant-upstream"},
         "model_info": {"input_cost_per_token": IN, "output_cost_per_token": OUT}},
        # groq speaks OpenAI's wire but is not asked for stream usage, and this fake sends none: estimated.
        {"model_name": "fast", "litellm_params": {"model": "groq/llama-3.1-8b", "api_base": fake_openai.url + "/v1",
                                                  "api_key": "gsk-upstream"},
         "model_info": {"input_cost_per_token": IN, "output_cost_per_token": OUT}},
    ]
    gw = start_gateway(cfg)
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {MASTER}"}) as admin:
        made = generate(admin)
    client = sdk(gw, made["key"])
    chunks = list(client.chat.completions.create(model="claude", messages=HI, stream=True))
    assert chunks and all(c.choices for c in chunks)
    # Anthropic's usage: 21 uncached + 4 cache-read input tokens, 9 output.
    claude_row = spend_rows(database, gw, 1)[0]
    assert (claude_row["prompt_tokens"], claude_row["cache_read_tokens"], claude_row["completion_tokens"]) == (25, 4, 9)
    assert claude_row["cost_estimated"] is False and claude_row["provider"] == "anthropic"

    list(client.chat.completions.create(model="fast", messages=HI, stream=True))
    assert "stream_options" not in fake_openai.requests[-1]["body"]
    fast_row = next(r for r in spend_rows(database, gw, 2) if r["model_group"] == "fast")
    assert fast_row["cost_estimated"] is True and fast_row["completion_tokens"] > 0 and fast_row["spend"] > 0

    with anthropic.Anthropic(api_key=made["key"], base_url=gw.url, max_retries=0).messages.stream(
            model="gpt-4o", max_tokens=16, messages=HI) as stream:
        assert stream.get_final_text() == "echo: hi"
    rows3 = spend_rows(database, gw, 3)
    messages_row = next(r for r in rows3 if r["call_type"] == "messages")
    assert (messages_row["prompt_tokens"], messages_row["completion_tokens"]) == (9, 12)


def test_embeddings_images_and_speech_are_priced_in_their_own_units(database, fake_openai, start_gateway):
    base = fake_openai.url + "/v1"

    def model(name: str, **costs) -> dict:
        return {"model_name": name, "litellm_params": {"model": f"openai/{name}", "api_base": base,
                                                       "api_key": "sk-upstream"}, "model_info": costs}

    cfg = config(database, fake_openai)
    cfg["model_list"] = [model("embed", input_cost_per_token=1e-4), model("draw", output_cost_per_image=0.04),
                         model("say", input_cost_per_character=1e-5)]
    gw = start_gateway(cfg)
    client = sdk(gw, MASTER)
    embedded = client.embeddings.with_raw_response.create(model="embed", input=["a", "b"])
    assert float(embedded.headers["x-relaykit-response-cost"]) == pytest.approx(3 * 1e-4)  # the fake's 3 tokens
    drawn = client.images.with_raw_response.generate(model="draw", prompt="a cat")
    assert float(drawn.headers["x-relaykit-response-cost"]) == pytest.approx(0.04)  # one image
    said = client.audio.speech.with_raw_response.create(model="say", voice="alloy", input="hello there")
    assert said.content[:4] == b"\x00" * 4
    assert float(said.headers["x-relaykit-response-cost"]) == pytest.approx(len("hello there") * 1e-5)
    rows = {r["call_type"]: r for r in spend_rows(database, gw, 3)}
    assert set(rows) == {"embeddings", "images", "speech"}
    assert rows["embeddings"]["prompt_tokens"] == 3 and rows["images"]["spend"] == pytest.approx(0.04)
