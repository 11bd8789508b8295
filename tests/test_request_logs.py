"""Request logs (middleware/observe) from the real gateway: one JSON record per call with the spend-log fields and
the bodies, to a file (rotated by size), stdout (json_logs), a webhook (a real loopback server that fails or
hangs) and a user's logger; bodies absent under turn_off_message_logging and no-log; secrets absent everywhere."""

from __future__ import annotations

import asyncio
import threading
import time

import openai
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kernel.config import parse_config
from tests.cli_process import Relaykit
from tests.fakes.key_echo_upstream import FakeKeyEcho
from tests.request_loggers import Collect
from tests.servers import ServerThread

HI = [{"role": "user", "content": "hi"}]
UPSTREAM_KEY = "sk-proj-logsDEF0123456789ghiJKL0123456789mnoPQR7777"


def models(fake_openai) -> list[dict]:
    return [{"model_name": name, "litellm_params": {"model": f"openai/{upstream}", "api_base": fake_openai.url + "/v1",
                                                    "api_key": "sk-upstream"},
             "model_info": {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-5}}
            for name, upstream in (("gpt-4o", "gpt-4o"), ("broken", "policy"))]


def client(gw) -> openai.OpenAI:
    return openai.OpenAI(api_key="unused", base_url=gw.url + "/v1", max_retries=0)


def until(check, what: str, seconds: float = 20):
    """Poll `check` until it returns something truthy (a deadline for a broken build, not a timing assert)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


def read_lines(path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_text().splitlines() if line]


def calls(c: openai.OpenAI, **extra) -> None:
    """A whole answer, a stream and a failure (the upstream's content-policy 400)."""
    assert c.chat.completions.create(model="gpt-4o", messages=HI, **extra).choices[0].message.content == "echo: hi"
    assert "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
        model="gpt-4o", messages=HI, stream=True, **extra)) == "echo: hi"
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="broken", messages=HI, **extra)


def test_file_records_have_the_spend_fields_and_the_bodies(fake_openai, start_gateway, tmp_path):
    path = tmp_path / "requests.jsonl"
    gw = start_gateway({"model_list": models(fake_openai), "general_settings": {"request_log_file": str(path)}})
    calls(client(gw))
    gw.__exit__(None, None, None)  # shutdown writes what the writer thread still holds
    whole, streamed, failed = read_lines(path)
    assert whole["status"] == "success" and whole["model_group"] == "gpt-4o" and whole["total_tokens"] == 21
    assert whole["spend"] == pytest.approx(9e-6 + 12e-5) and whole["provider"] == "openai"
    assert whole["request"]["messages"] == HI and whole["messages_logged"] is True
    assert whole["response"]["choices"][0]["message"]["content"] == "echo: hi"
    assert streamed["stream"] is True and streamed["completion_tokens"] == 12 and streamed["ttft_ms"] is not None
    assert streamed["request"]["messages"] == HI and streamed["response"] is None  # streams: record, no answer body
    assert failed["status"] == "failure" and failed["error_type"] == "invalid_request_error"
    assert "safety system" in failed["error_message"] and failed["response"] is None
    assert {r["request_id"] for r in (whole, streamed, failed)} == {r["request_id"] for r in read_lines(path)}
    for r in (whole, streamed, failed):
        assert r["start_time"] <= r["end_time"] and r["latency_ms"] >= 0


@pytest.mark.parametrize("how", ["turn_off_message_logging", "metadata", "top_level"])
def test_bodies_absent_when_asked(fake_openai, start_gateway, tmp_path, how):
    path = tmp_path / "requests.jsonl"
    config = {"model_list": models(fake_openai), "general_settings": {"request_log_file": str(path)}}
    extra = {}
    if how == "turn_off_message_logging":
        config["litellm_settings"] = {"turn_off_message_logging": True}
    elif how == "metadata":
        extra = {"extra_body": {"metadata": {"no-log": True}}}
    else:
        extra = {"extra_body": {"no-log": True}}
    gw = start_gateway(config)
    calls(client(gw), **extra)
    gw.__exit__(None, None, None)
    text = path.read_text()
    assert "echo: hi" not in text and '"hi"' not in text  # neither the prompt nor the answer, anywhere
    rows = read_lines(path)
    assert len(rows) == 3 and all(r["request"] is None and r["response"] is None for r in rows)
    assert all(r["messages_logged"] is False for r in rows) and rows[0]["total_tokens"] == 21  # the rest is kept
    assert "no-log" not in orjson.dumps(fake_openai.requests[-1]["body"]).decode()  # never sent upstream


def test_json_logs_on_stdout_of_the_cli(fake_openai, tmp_path):
    config = {"model_list": models(fake_openai), "litellm_settings": {"json_logs": True}}
    with Relaykit([], config=config, tmp_path=tmp_path) as rk:
        calls(client(rk))
        got: list[dict] = []

        def read() -> None:
            while len(got) < 3:
                line = rk.proc.stdout.readline()
                if not line:
                    return
                if line.startswith("{"):
                    got.append(orjson.loads(line))
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(20)
    assert [r["status"] for r in got] == ["success", "success", "failure"]
    assert got[0]["request"]["messages"] == HI and got[0]["response"]["choices"][0]["message"]["content"] == "echo: hi"
    assert not any("not implemented" in line for line in rk.stderr)  # json_logs is no longer ignored


class Hook:
    """A webhook endpoint on loopback: fails the first `fail` posts with 500, or hangs each post until `gate`."""

    def __init__(self, fail: int = 0, hang: bool = False) -> None:
        self.fail, self.hang = fail, hang
        self.posts = 0
        self.records: list[dict] = []
        self.bodies: list[bytes] = []
        self.headers: list[dict] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.app = Starlette(routes=[Route("/hook", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        self.posts += 1
        self.headers.append(dict(request.headers))
        if self.hang:
            self.entered.set()
            await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 30)
        if self.posts <= self.fail:
            return Response("down", status_code=500)
        self.bodies.append(body)
        self.records.extend(orjson.loads(body))
        return Response(status_code=204)


def hook_config(fake_openai, hook_url: str, **settings) -> dict:
    return {"model_list": models(fake_openai), "litellm_settings": {"callbacks": ["webhook"]},
            "callback_settings": {"webhook": {"endpoint": hook_url + "/hook", "headers": {"authorization": "Bearer t0k"},
                                              "flush_interval": 0.05, "batch_size": 2, **settings}}}


def test_webhook_retries_until_every_record_arrives_once(fake_openai, start_gateway, monkeypatch):
    from middleware.observe import webhook

    monkeypatch.setattr(webhook.Webhook, "backoff", 0.01)  # the retries' spacing, not their count
    hook = Hook(fail=2)
    with ServerThread(hook.app) as server:
        gw = start_gateway(hook_config(fake_openai, server.url))
        c = client(gw)
        ids = [f"req-{i}" for i in range(5)]
        for rid in ids:
            c.with_options(default_headers={"x-request-id": rid}).chat.completions.create(model="gpt-4o", messages=HI)
        until(lambda: len(hook.records) >= 5, "five records at the webhook")
        gw.__exit__(None, None, None)
    assert sorted(r["request_id"] for r in hook.records) == ids  # each exactly once, after two failed posts
    assert hook.posts > 2 and hook.headers[-1]["authorization"] == "Bearer t0k"
    assert all(r["request"]["messages"] == HI for r in hook.records)


def test_a_hanging_webhook_does_not_hold_up_calls(fake_openai, start_gateway):
    hook = Hook(hang=True)
    with ServerThread(hook.app) as server:
        gw = start_gateway(hook_config(fake_openai, server.url, batch_size=1, timeout=60))
        c = client(gw)
        c.chat.completions.create(model="gpt-4o", messages=HI)
        assert hook.entered.wait(20)  # the webhook's first post is now hanging in the test server
        for _ in range(5):  # and calls still complete, while it hangs
            assert c.chat.completions.create(model="gpt-4o", messages=HI).choices[0].message.content == "echo: hi"
        assert not hook.gate.is_set() and hook.records == []
        hook.gate.set()
        until(lambda: len(hook.records) >= 6, "all six records once the webhook answers")
        gw.__exit__(None, None, None)
    assert len({r["request_id"] for r in hook.records}) == 6


def test_an_echoed_upstream_key_reaches_no_sink(start_gateway, tmp_path):
    echo = FakeKeyEcho()
    hook = Hook()
    path = tmp_path / "requests.jsonl"
    Collect.records.clear()
    with ServerThread(echo.app) as upstream, ServerThread(hook.app) as server:
        echo.url = upstream.url
        config = {
            "model_list": [{"model_name": "leaky", "litellm_params": {"model": "openai/echo-401",
                                                                      "api_base": upstream.url + "/v1",
                                                                      "api_key": UPSTREAM_KEY}}],
            "router_settings": {"cooldown_time": 0},
            "litellm_settings": {"json_logs": False, "failure_callback": ["webhook", "tests.request_loggers:Collect"]},
            "callback_settings": {"webhook": {"endpoint": server.url + "/hook", "flush_interval": 0.05}},
            "general_settings": {"request_log_file": str(path)}}
        gw = start_gateway(config)
        with pytest.raises(openai.AuthenticationError):
            client(gw).chat.completions.create(model="leaky", messages=HI)
        until(lambda: hook.records and Collect.records, "the failure at the webhook and the user's logger")
        gw.__exit__(None, None, None)
    texts = {"file": path.read_text(), "webhook": b"".join(hook.bodies).decode(),
             "logger": orjson.dumps(Collect.records).decode()}
    for where, text in texts.items():
        assert UPSTREAM_KEY not in text, where
        assert "Incorrect API key provided: sk-...7777" in text, where  # the message is there, masked
    assert Collect.records[0]["status"] == "failure" and Collect.records[0]["error_type"] == "invalid_request_error"


def test_the_file_rotates_by_size(fake_openai, start_gateway, tmp_path):
    path = tmp_path / "requests.jsonl"
    gw = start_gateway({"model_list": models(fake_openai), "general_settings": {
        "request_log_file": str(path), "request_log_max_bytes": 4096, "request_log_backup_count": 2}})
    c = client(gw)
    for _ in range(12):
        c.chat.completions.create(model="gpt-4o", messages=HI)
    gw.__exit__(None, None, None)
    files = [path, tmp_path / "requests.jsonl.1", tmp_path / "requests.jsonl.2"]
    assert all(f.exists() for f in files) and not (tmp_path / "requests.jsonl.3").exists()
    for f in files:
        assert 0 < f.stat().st_size <= 4096
        assert all(r["status"] == "success" for r in read_lines(f))  # whole lines: rotation never splits one


def test_a_users_logger_gets_successes_only_from_success_callback(fake_openai, start_gateway):
    Collect.records.clear()
    gw = start_gateway({"model_list": models(fake_openai),
                        "litellm_settings": {"success_callback": ["tests.request_loggers:Collect"]}})
    calls(client(gw))
    until(lambda: len(Collect.records) >= 2, "two successes at the user's logger")
    gw.__exit__(None, None, None)
    assert [r["status"] for r in Collect.records] == ["success", "success"]
    assert Collect.records[0]["request"]["messages"] == HI


def test_callback_names_relaykit_lacks_still_warn_and_the_rest_do_not():
    settings = parse_config({
        "litellm_settings": {"json_logs": True, "turn_off_message_logging": True, "callbacks": ["datadog", "webhook"],
                             "success_callback": ["s3", "tests.request_loggers:Collect"]},
        "callback_settings": {"webhook": {"endpoint": "http://127.0.0.1:1/x"}},
        "general_settings": {"request_log_file": "/tmp/x.jsonl"}}, "config.yaml")
    warned = [w for w in settings.warnings if "not implemented" in w]
    assert len(warned) == 2 and "'datadog'" in warned[0] and "'s3'" in warned[1]
    assert [(c.name, c.kind) for c in settings.observe.callbacks] == [
        ("webhook", "webhook"), ("tests.request_loggers:Collect", "logger")]


def test_a_webhook_without_an_endpoint_is_a_config_error(monkeypatch):
    from kernel.errors import ConfigError

    monkeypatch.delenv("GENERIC_LOGGER_ENDPOINT", raising=False)
    with pytest.raises(ConfigError) as err:
        parse_config({"litellm_settings": {"callbacks": ["generic_api"]}}, "config.yaml")
    assert "GENERIC_LOGGER_ENDPOINT" in str(err.value)
