"""Health that tells the truth, from the real gateway: background probes (background_health_checks) put a failing
deployment in cooldown so calls land on the healthy one and a passing probe ends it; GET /health answers from the
latest run; /health/readiness lists its dependencies, stays 200 with a failing webhook (degraded) and says 503
with the store down."""

from __future__ import annotations

import sqlite3

import httpx
import openai
import pytest

from kernel.config import parse_config
from tests.servers import ServerThread
from tests.test_request_logs import Hook, hook_config, until
from tests.test_spend_durability import _calls, _outage_config
from tests.test_spend_e2e import MASTER, generate

HI = [{"role": "user", "content": "hi"}]
WEBHOOK_TOKEN = "Bearer whk-7Qm2xV9pLr4sT8nZ"


def deployment(name: str, upstream: str, fake_openai) -> dict:
    return {"model_name": name, "litellm_params": {"model": f"openai/{upstream}", "api_base": fake_openai.url + "/v1",
                                                   "api_key": "sk-upstream"}}


def background_config(fake_openai, *deployments: tuple[str, str]) -> dict:
    return {"model_list": [deployment(n, u, fake_openai) for n, u in deployments],
            # No retries: a call that reached the failing deployment would fail, not quietly move on.
            "router_settings": {"num_retries": 0, "cooldown_time": 120},
            "general_settings": {"background_health_checks": True, "health_check_interval": 0.2}}


def client_calls(fake_openai) -> list[str]:
    """The upstream models the clients' own calls reached (probes say "ping" with max_tokens 1)."""
    return [r["body"]["model"] for r in list(fake_openai.requests)
            if r["body"] and r["body"].get("messages") != [{"role": "user", "content": "ping"}]]


def probes_of(fake_openai, upstream: str) -> int:
    return sum(1 for r in list(fake_openai.requests) if r["body"] and r["body"].get("model") == upstream
               and r["body"].get("max_tokens") == 1)


def health(gw) -> dict:
    reply = httpx.get(gw.url + "/health", timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_the_config_keys_are_read_and_warn_no_more():
    settings = parse_config({"general_settings": {"background_health_checks": True, "health_check_interval": 2.5}},
                            "config.yaml")
    assert settings.general.background_health_checks is True and settings.general.health_check_interval == 2.5
    assert not [w for w in settings.warnings if "health_check" in w]
    assert parse_config({}, "config.yaml").general.health_check_interval == 300.0  # LiteLLM's default


def test_a_failing_probe_cools_its_deployment_so_calls_land_on_the_healthy_one(fake_openai, start_gateway):
    gw = start_gateway(background_config(fake_openai, ("mix", "gpt-4o"), ("mix", "fail-500")))
    report = until(lambda: (h := health(gw))["unhealthy_count"] == 1 and h, "a background run with fail-500 down")
    assert report["background"] is True and report["health_check_interval"] == 0.2
    assert isinstance(report["last_checked_at"], float) and report["last_checked"].endswith("Z")
    (bad,) = report["unhealthy_endpoints"]
    assert bad["model"] == "mix" and bad["status"] == 500
    assert [e["model"] for e in report["healthy_endpoints"]] == ["mix"]

    c = openai.OpenAI(api_key="unused", base_url=gw.url + "/v1", max_retries=0)
    for i in range(30):
        msg = [{"role": "user", "content": f"call {i}"}]
        assert c.chat.completions.create(model="mix", messages=msg).choices[0].message.content == f"echo: call {i}"
    assert client_calls(fake_openai) == ["gpt-4o"] * 30  # never the deployment in cooldown
    # The checks keep running in the background; /health does not probe by itself (it reads their results).
    seen = probes_of(fake_openai, "fail-500")
    until(lambda: probes_of(fake_openai, "fail-500") > seen, "another background probe")
    later = until(lambda: (h := health(gw))["last_checked_at"] > report["last_checked_at"] and h, "a newer run")
    assert later["unhealthy_count"] == 1


def test_a_passing_probe_ends_the_cooldown(fake_openai, start_gateway):
    # flaky-2 fails its first two requests (the first two probes), then answers: its cooldown (120 s) must end
    # with the first passing probe, not when the 120 s are up.
    gw = start_gateway(background_config(fake_openai, ("mix", "gpt-4o"), ("mix", "flaky-2")))
    until(lambda: probes_of(fake_openai, "flaky-2") >= 1 and health(gw)["unhealthy_count"] == 1, "flaky-2 down")
    until(lambda: health(gw)["healthy_count"] == 2, "flaky-2 healthy again")
    c = openai.OpenAI(api_key="unused", base_url=gw.url + "/v1", max_retries=0)

    def lands_on_flaky() -> bool:
        c.chat.completions.create(model="mix", messages=HI)
        return "flaky-2" in client_calls(fake_openai)

    until(lands_on_flaky, "a call served by flaky-2 once its probe passed")


def test_health_without_background_checks_still_probes_on_request(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [deployment("ok", "gpt-4o", fake_openai),
                                       deployment("down", "fail-500", fake_openai)]})
    report = health(gw)
    assert report["healthy_count"] == 1 and report["unhealthy_count"] == 1 and "background" not in report
    assert probes_of(fake_openai, "fail-500") == 1  # probed now, once


def test_readiness_lists_each_dependency(fake_openai, start_gateway, tmp_path, monkeypatch):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from middleware.observe import traces

    monkeypatch.setattr(traces, "exporter_factory", lambda settings: InMemorySpanExporter())
    gw = start_gateway({"model_list": [deployment("gpt-4o", "gpt-4o", fake_openai)],
                        "litellm_settings": {"callbacks": ["prometheus", "otel"]},
                        "general_settings": {"request_log_file": str(tmp_path / "calls.jsonl")}})
    openai.OpenAI(api_key="unused", base_url=gw.url + "/v1").chat.completions.create(model="gpt-4o", messages=HI)
    ready = httpx.get(gw.url + "/health/readiness")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "healthy" and body["db"] == "not configured" and body["degraded"] == []
    deps = body["dependencies"]
    assert deps["database"] == {"state": "not configured"} and deps["redis"] == {"state": "not configured"}
    assert deps["metrics"]["state"] == "on" and deps["traces"] == {"state": "on"}
    (outlet,) = deps["request_logs"]["outlets"]
    assert deps["request_logs"]["state"] == "ok" and outlet["name"] == "file" and outlet["dropped"] == 0
    until(lambda: httpx.get(gw.url + "/health/readiness").json()["dependencies"]["request_logs"]["outlets"][0]
          ["written"] == 1, "the call's line written")


def test_readiness_without_sinks_says_they_are_off(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [deployment("gpt-4o", "gpt-4o", fake_openai)]})
    deps = httpx.get(gw.url + "/health/readiness").json()["dependencies"]
    assert deps["request_logs"] == {"state": "not configured"} and deps["metrics"] == {"state": "off"}
    assert deps["traces"] == {"state": "off"}


def test_a_failing_webhook_is_degraded_but_readiness_stays_200(fake_openai, start_gateway):
    hook = Hook(fail=10**9)
    with ServerThread(hook.app) as server:
        cfg = hook_config(fake_openai, server.url, max_retries=0)
        cfg["callback_settings"]["webhook"]["headers"] = {"authorization": WEBHOOK_TOKEN}
        gw = start_gateway(cfg)
        c = openai.OpenAI(api_key="unused", base_url=gw.url + "/v1", max_retries=0)
        assert c.chat.completions.create(model="gpt-4o", messages=HI).choices[0].message.content == "echo: hi"

        def degraded():
            reply = httpx.get(gw.url + "/health/readiness")
            return reply.json()["dependencies"]["request_logs"]["state"] == "degraded" and reply

        ready = until(degraded, "the webhook reported degraded")
        assert ready.status_code == 200 and ready.json()["status"] == "healthy"
        assert ready.json()["degraded"] == ["request_logs"]
        (outlet,) = ready.json()["dependencies"]["request_logs"]["outlets"]
        assert outlet["name"] == "webhook webhook" and outlet["last_error"] == "HTTP 500"
        assert outlet["dropped"] >= 1 and outlet["sent"] == 0
        # Readiness needs no key: neither the endpoint's URL nor its credentials are in it.
        assert server.url not in ready.text and WEBHOOK_TOKEN.split()[1] not in ready.text


def test_the_store_down_is_503_with_the_database_listed(fake_openai, start_gateway):
    db = ("sqlite", None)
    gw = start_gateway(_outage_config(db, fake_openai))
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {MASTER}"}, timeout=30) as admin:
        made = generate(admin)
        assert _calls(gw.url, made["key"], 2) == [200] * 2
        first = admin.get("/health/readiness").json()
        assert first["dependencies"]["database"]["state"] == "connected"
        holder = sqlite3.connect(gw.data_dir / "relaykit.db", isolation_level=None, timeout=1)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock: the spend writer's batches fail
        try:
            assert _calls(gw.url, made["key"], 5) == [200] * 5
            ready = until(lambda: (r := admin.get("/health/readiness")).status_code == 503 and r, "readiness 503",
                          seconds=30)
            body = ready.json()
            assert body["status"] == "unhealthy" and body["db"] in ("degraded", "not connected")
            database = body["dependencies"]["database"]
            assert database["state"] == body["db"] and database["spend_rows_queued"] == body["spend_rows_queued"]
            assert body["dependencies"]["redis"] == {"state": "not configured"}
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        until(lambda: admin.get("/health/readiness").status_code == 200, "ready again once the lock is gone",
              seconds=60)


@pytest.mark.parametrize("interval", [0, -1])
def test_a_non_positive_interval_is_refused(interval):
    from kernel.errors import ConfigError

    with pytest.raises(ConfigError, match="health_check_interval"):
        parse_config({"general_settings": {"health_check_interval": interval}}, "config.yaml")
