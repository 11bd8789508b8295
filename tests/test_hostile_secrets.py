"""Hostile upstreams echo the key they were sent: no configured or client secret reaches a client or a log.

The gateway runs as the CLI does (a subprocess with --detailed_debug, its stderr kept in a file) in front
of tests/fakes/key_echo_upstream.py, which quotes the whole key in OpenAI's and Anthropic's real error
envelopes, plain-text bodies, headers and in-band stream events. Each test checks the whole response
(status line, headers, body) and the log so far.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time

import httpx
import orjson
import pytest
import yaml

from kernel.config import parse_config
from kernel.guards.secrets import Scrubber, ScrubFilter, mask, scrub_marked
from kernel.state import Gateway
from tests.fakes.google_token import FakeGoogleToken, make_key_pair
from tests.fakes.key_echo_upstream import FakeKeyEcho
from tests.servers import ServerThread, free_port

MASTER = "rk-master-7f3a9c2e51d84b06e4d2"
OPENAI_KEY = "sk-proj-abcDEF0123456789ghiJKL0123456789mnoPQR1111"
CUSTOM_KEY = "vllm-Tok3n-9f8e7d6c5b4a39281706"  # configured, but shaped like no known key: only the config finds it
ANTHROPIC_KEY = "sk-ant-api03-ZYXwvu9876543210tsrQPO-abcdEFGH2222"
CLIENT_KEY = "client-own-key-0123456789abcdef3333"  # sent by a client in its body; never configured
MASKED = {OPENAI_KEY: "sk-...1111", CUSTOM_KEY: "vll...1706", ANTHROPIC_KEY: "sk-...2222", CLIENT_KEY: "cli...3333"}
AUTH = {"authorization": f"Bearer {MASTER}"}
ANTHROPIC_HEADERS = {"x-api-key": MASTER, "anthropic-version": "2023-06-01"}
HI = [{"role": "user", "content": "hi"}]


class RelaykitProcess:
    """relaykit as a process: `url`, and `log()` for all it has written (stdout and stderr) so far."""

    def __init__(self, config: dict, tmp) -> None:
        path = tmp / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.log_path = tmp / "output.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - the process writes to it until the module ends
        # Both streams to one file: uvicorn's access log goes to stdout, everything else to stderr.
        self.proc = subprocess.Popen([sys.executable, "-m", "kernel.serve.cli", "--config", str(path), "--host", "127.0.0.1",
                                      "--port", str(self.port), "--detailed_debug"],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=os.environ.copy())
        deadline = time.monotonic() + 30
        while "listening on" not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"relaykit did not start: {self.log()}")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self._log.close()


@pytest.fixture(scope="module")
def echo():
    fake = FakeKeyEcho()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture(scope="module")
def google():
    token = FakeGoogleToken()
    with ServerThread(token.app) as server:
        token.url = server.url
        yield token


@pytest.fixture(scope="module")
def gw(echo, google, tmp_path_factory):
    base = echo.url + "/v1"
    config = {
        "model_list": [
            {"model_name": "openai/*", "litellm_params": {"model": "openai/*", "api_base": base, "api_key": OPENAI_KEY}},
            {"model_name": "custom/*", "litellm_params": {"model": "custom_openai/*", "api_base": base,
                                                          "api_key": CUSTOM_KEY}},
            {"model_name": "claude/*", "litellm_params": {"model": "anthropic/*", "api_base": echo.url,
                                                          "api_key": ANTHROPIC_KEY}},
            {"model_name": "byok/*", "litellm_params": {"model": "custom_openai/*", "api_base": base,
                                                        "configurable_clientside_auth_params": ["api_key"]}},
            {"model_name": "vertex-echo", "litellm_params": {
                "model": "vertex_ai/gemini-echo", "api_base": echo.url, "vertex_project": "relaykit-proj",
                "vertex_location": "us-central1", "vertex_credentials": google.service_account()}},
            {"model_name": "health-echo", "litellm_params": {"model": "openai/echo-401", "api_base": base,
                                                             "api_key": OPENAI_KEY}},
        ],
        # Every test here makes its deployment fail on purpose; none of them is about cooldowns.
        "router_settings": {"cooldown_time": 0},
        "general_settings": {"master_key": MASTER},
    }
    server = RelaykitProcess(config, tmp_path_factory.mktemp("secrets-gw"))
    yield server
    server.stop()


@pytest.fixture
def fake(echo):
    echo.clear()
    return echo


def whole(r: httpx.Response) -> str:
    """Everything the client received: status line, every header as sent, the (de-chunked) body."""
    head = f"{r.http_version} {r.status_code} {r.reason_phrase}\r\n"
    head += "".join(f"{k.decode('latin-1')}: {v.decode('latin-1')}\r\n" for k, v in r.headers.raw)
    return head + "\r\n" + r.content.decode("utf-8", "replace")


def assert_scrubbed(text: str, secret: str, masked: str | None = None) -> None:
    assert secret not in text
    assert secret[3:-4] not in text  # not even its middle
    if masked is not None:
        assert masked in text


def assert_log_clean(gw, *secrets: str) -> str:
    log = gw.log()
    for secret in secrets:
        assert_scrubbed(log, secret)
    return log


def chat(gw, model: str, **body) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", headers=AUTH, json={"model": model, "messages": HI, **body},
                      timeout=30)


def messages(gw, model: str, **body) -> httpx.Response:
    return httpx.post(gw.url + "/v1/messages", headers=ANTHROPIC_HEADERS, timeout=30,
                      json={"model": model, "max_tokens": 20, "messages": HI, **body})


# -- OpenAI upstreams through /v1/chat/completions ---------------------------------------------------------


@pytest.mark.parametrize(("route", "key"), [("openai", OPENAI_KEY), ("custom", CUSTOM_KEY)])
def test_401_in_openais_own_words_is_masked(gw, fake, route, key):
    r = chat(gw, f"{route}/echo-401")
    assert r.status_code == 401
    error = r.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_api_key")  # the upstream's own
    assert f"Incorrect API key provided: {MASKED[key]}. You can find your API key at" in error["message"]
    assert fake.requests[-1]["key"] == key  # the upstream really got the key, and echoed it
    assert_scrubbed(whole(r), key, MASKED[key])
    log = assert_log_clean(gw, key)
    assert f"Incorrect API key provided: {MASKED[key]}" in log  # the error is logged, masked


def test_400_echoing_the_key_in_message_and_param(gw, fake):
    r = chat(gw, "openai/echo-400")
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == MASKED[OPENAI_KEY]
    assert f"the request signed with {MASKED[OPENAI_KEY]} may not set it" in error["message"]
    assert_scrubbed(whole(r), OPENAI_KEY, MASKED[OPENAI_KEY])
    assert_log_clean(gw, OPENAI_KEY)


@pytest.mark.parametrize(("route", "key"), [("openai", OPENAI_KEY), ("custom", CUSTOM_KEY)])
def test_500_with_the_key_in_a_plain_text_body(gw, fake, route, key):
    r = chat(gw, f"{route}/echo-500")
    assert r.status_code == 500
    assert f"Authorization: Bearer {MASKED[key]}" in r.json()["error"]["message"]
    assert "x-echo-key" not in r.headers
    assert_scrubbed(whole(r), key, MASKED[key])
    assert_log_clean(gw, key)


@pytest.mark.parametrize("cue", ["echo-stream", "echo-split"])
@pytest.mark.parametrize(("route", "key"), [("openai", OPENAI_KEY), ("custom", CUSTOM_KEY)])
def test_stream_that_fails_in_band_with_the_key(gw, fake, cue, route, key):
    r = chat(gw, f"{route}/{cue}", stream=True)
    assert r.status_code == 200
    events = [orjson.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
    assert events[0]["choices"][0]["delta"]["content"] == "partial"  # the stream itself went through untouched
    error = events[-1]["error"]
    assert error["code"] == "invalid_api_key"
    assert error["message"].startswith(f"Incorrect API key provided: {MASKED[key]}.")
    assert_scrubbed(whole(r), key, MASKED[key])
    assert_log_clean(gw, key)


def test_a_clients_own_key_is_masked_too(gw, fake):
    r = chat(gw, "byok/echo-401", api_key=CLIENT_KEY)
    assert r.status_code == 401
    assert fake.requests[-1]["key"] == CLIENT_KEY
    assert f"Incorrect API key provided: {MASKED[CLIENT_KEY]}." in r.json()["error"]["message"]
    assert_scrubbed(whole(r), CLIENT_KEY, MASKED[CLIENT_KEY])
    assert_log_clean(gw, CLIENT_KEY)


def test_a_clients_own_key_in_a_failing_stream(gw, fake):
    r = chat(gw, "byok/echo-split", api_key=CLIENT_KEY, stream=True)
    assert r.status_code == 200
    assert fake.requests[-1]["key"] == CLIENT_KEY
    assert_scrubbed(whole(r), CLIENT_KEY, MASKED[CLIENT_KEY])
    assert_log_clean(gw, CLIENT_KEY)


def test_a_2xx_body_is_relayed_untouched(gw, fake):
    text = f"my notes mention {OPENAI_KEY} and {CUSTOM_KEY}"  # the client's own data, answered back
    r = httpx.post(gw.url + "/v1/chat/completions", headers=AUTH, timeout=30,
                   json={"model": "openai/ok", "messages": [{"role": "user", "content": text}]})
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == text


def test_batch_member_errors_are_masked(gw, fake):
    r = chat(gw, "openai/echo-401,openai/ok")
    assert r.status_code == 200
    failed, answered = r.json()
    assert f"Incorrect API key provided: {MASKED[OPENAI_KEY]}." in failed["error"]["message"]
    assert answered["choices"][0]["message"]["content"] == "hi"
    assert_scrubbed(whole(r), OPENAI_KEY, MASKED[OPENAI_KEY])


def test_health_reasons_are_masked(gw, fake):
    r = httpx.get(gw.url + "/health", headers=AUTH, timeout=30)
    assert r.status_code == 200
    (bad,) = [e for e in r.json()["unhealthy_endpoints"] if e["model"] == "health-echo"]
    assert bad["status"] == 401
    assert f"Incorrect API key provided: {MASKED[OPENAI_KEY]}." in bad["error"]
    assert_scrubbed(whole(r), OPENAI_KEY, MASKED[OPENAI_KEY])


# -- the pass-through routes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/files"), ("GET", "/v1/files/file-abc/content"),
                                               ("POST", "/v1/files")])
def test_files_pass_through_relays_a_scrubbed_error_body(gw, fake, method, path):
    r = httpx.request(method, gw.url + path, headers=AUTH, timeout=30,
                      json={"purpose": "batch"} if method == "POST" else None)
    assert r.status_code == 401
    assert fake.requests[-1]["key"] == OPENAI_KEY
    assert r.json()["error"]["message"].startswith(f"Incorrect API key provided: {MASKED[OPENAI_KEY]}.")
    assert r.headers["content-type"] == f"application/json; charset=utf-8; key={MASKED[OPENAI_KEY]}"
    assert "x-echo-key" not in r.headers
    assert_scrubbed(whole(r), OPENAI_KEY, MASKED[OPENAI_KEY])
    assert_log_clean(gw, OPENAI_KEY)


# -- Anthropic upstreams, through both dialects --------------------------------------------------------------


def test_anthropic_401_through_chat_completions(gw, fake):
    r = chat(gw, "claude/echo-401")
    assert r.status_code == 401
    assert fake.requests[-1]["key"] == ANTHROPIC_KEY
    assert f"invalid x-api-key: {MASKED[ANTHROPIC_KEY]}" in r.json()["error"]["message"]
    assert_scrubbed(whole(r), ANTHROPIC_KEY, MASKED[ANTHROPIC_KEY])
    assert_log_clean(gw, ANTHROPIC_KEY)


@pytest.mark.parametrize(("cue", "status", "kind"), [("echo-401", 401, "authentication_error"),
                                                     ("echo-400", 400, "invalid_request_error"),
                                                     ("echo-500", 500, "api_error")])
def test_anthropic_errors_through_messages(gw, fake, cue, status, kind):
    r = messages(gw, f"claude/{cue}")
    assert r.status_code == status
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert MASKED[ANTHROPIC_KEY] in body["error"]["message"]
    assert_scrubbed(whole(r), ANTHROPIC_KEY, MASKED[ANTHROPIC_KEY])
    assert_log_clean(gw, ANTHROPIC_KEY)


@pytest.mark.parametrize("cue", ["echo-stream", "echo-split"])
def test_anthropic_in_band_error_through_chat_completions(gw, fake, cue):
    r = chat(gw, f"claude/{cue}", stream=True)
    assert r.status_code == 200
    events = [orjson.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
    assert events[0]["choices"][0]["delta"].get("content") in ("", "partial", None)
    assert f"invalid x-api-key: {MASKED[ANTHROPIC_KEY]}" in events[-1]["error"]["message"]
    assert_scrubbed(whole(r), ANTHROPIC_KEY, MASKED[ANTHROPIC_KEY])
    assert_log_clean(gw, ANTHROPIC_KEY)


@pytest.mark.parametrize("cue", ["echo-stream", "echo-split"])
def test_anthropic_in_band_error_through_messages(gw, fake, cue):
    r = messages(gw, f"claude/{cue}", stream=True)
    assert r.status_code == 200
    names = [line[7:] for line in r.text.splitlines() if line.startswith("event: ")]
    assert names == ["message_start", "content_block_start", "content_block_delta", "error"]  # passed through
    error = orjson.loads(r.text.rsplit("data: ", 1)[1])
    assert error == {"type": "error", "error": {"type": "authentication_error",
                                                "message": f"invalid x-api-key: {MASKED[ANTHROPIC_KEY]}"}}
    assert_scrubbed(whole(r), ANTHROPIC_KEY, MASKED[ANTHROPIC_KEY])
    assert_log_clean(gw, ANTHROPIC_KEY)


def test_openai_upstream_through_messages(gw, fake):
    r = messages(gw, "openai/echo-401")
    assert r.status_code == 401
    assert r.json()["error"]["message"].endswith(f"Incorrect API key provided: {MASKED[OPENAI_KEY]}. You can find "
                                                 "your API key at https://platform.openai.com/account/api-keys.")
    assert_scrubbed(whole(r), OPENAI_KEY, MASKED[OPENAI_KEY])


# -- Vertex AI: an access token minted at runtime ----------------------------------------------------------


def test_vertex_access_token_is_masked(gw, fake, google):
    r = chat(gw, "vertex-echo")
    assert r.status_code == 401
    token = fake.requests[-1]["key"]
    assert token in google.issued  # the token relaykit fetched from Google, echoed back by the upstream
    assert "Request had invalid authentication credentials: ****" in r.json()["error"]["message"]
    assert_scrubbed(whole(r), token)
    assert_log_clean(gw, token)


def test_vertex_pass_through_error_is_masked(gw, fake, google):
    path = "v1/projects/relaykit-proj/locations/us-central1/publishers/google/models/gemini-echo:generateContent"
    r = httpx.post(f"{gw.url}/vertex_ai/{path}", headers=AUTH, json={"contents": []}, timeout=30)
    assert r.status_code == 401
    token = fake.requests[-1]["key"]
    assert token in google.issued
    assert r.json()["error"]["message"] == "Request had invalid authentication credentials: ****"
    assert_scrubbed(whole(r), token)


# -- logs ------------------------------------------------------------------------------------------------------


def test_a_key_in_a_request_url_is_masked_in_the_access_log(gw):
    r = httpx.get(f"{gw.url}/v1/models", params={"api_key": CUSTOM_KEY}, headers=AUTH)
    assert r.status_code == 200
    deadline = time.monotonic() + 5
    while "GET /v1/models?api_key=" not in gw.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    (line,) = [ln for ln in gw.log().splitlines() if "GET /v1/models?api_key=" in ln]
    assert MASKED[CUSTOM_KEY] in line  # configured: masked by the filter on uvicorn's access log
    assert_scrubbed(line, CUSTOM_KEY)


def test_no_secret_anywhere_in_the_whole_log(gw, fake, google):
    assert chat(gw, "openai/echo-401").status_code == 401
    assert httpx.get(f"{gw.url}/v1/models", params={"api_key": CUSTOM_KEY}, headers=AUTH).status_code == 200
    time.sleep(0.2)  # the access log line is written after the response
    log = gw.log()
    assert "GET /v1/models" in log and "answered 401" in log  # the log did record these calls
    for secret in (MASTER, OPENAI_KEY, CUSTOM_KEY, ANTHROPIC_KEY, CLIENT_KEY, *google.issued):
        assert_scrubbed(log, secret)


# -- the Scrubber and the log filter on their own --------------------------------------------------------------


def test_every_configured_credential_is_collected(tmp_path):
    private, _ = make_key_pair()
    account = {"type": "service_account", "project_id": "p", "private_key_id": "kid-0123456789abcdef",
               "private_key": private, "client_email": "svc@p.iam.gserviceaccount.com", "client_id": "1234567890",
               "token_uri": "https://oauth2.googleapis.com/token"}
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps({**account, "private_key_id": "kid-from-file-0123456789"}))
    aws = {"aws_access_key_id": "AKIAZZZZYYYYXXXXWWWW", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
           "aws_session_token": "FwoGZXIvYXdzEXAMPLEsessionTOKEN0123456789", "aws_region_name": "us-east-1"}
    settings = parse_config({"model_list": [
        {"model_name": "b", "litellm_params": {"model": "bedrock/anthropic.claude-3", **aws}},
        {"model_name": "az", "litellm_params": {"model": "azure/gpt-4o", "api_base": "https://x.openai.azure.com",
                                                "api_version": "2024-06-01", "azure_ad_token": "eyJ0eXAiOiJKV1Qi.aad-token"}},
        {"model_name": "v1", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash", "vertex_credentials": account}},
        {"model_name": "v2", "litellm_params": {"model": "vertex_ai/gemini-2.0-flash", "vertex_credentials": str(key_file)}},
    ], "general_settings": {"master_key": MASTER}}, "config.yaml")
    scrub = Gateway(settings).scrubber.scrub
    for secret in (*aws.values(), "eyJ0eXAiOiJKV1Qi.aad-token", "kid-0123456789abcdef", "kid-from-file-0123456789",
                   MASTER):
        if secret == "us-east-1":
            assert scrub(f"region {secret}") == f"region {secret}"  # not a secret: left alone
            continue
        assert scrub(f"echo: {secret}!") == f"echo: {mask(secret)}!"
    assert scrub(f"key: {private}") == "key: [private key]"
    assert "PRIVATE KEY" not in scrub(orjson.dumps({"echo": private}).decode())  # JSON-escaped newlines too
    line = private.splitlines()[5]
    assert scrub(f"partial echo {line}") == f"partial echo {mask(line)}"
    assert scrub("svc@p.iam.gserviceaccount.com https://oauth2.googleapis.com/token") == (
        "svc@p.iam.gserviceaccount.com https://oauth2.googleapis.com/token")  # names and URLs stay readable


def test_short_values_and_a_weak_master_key():
    scrubber = Scrubber(["sk-up", "anything-longer"], short=["test"])
    # A value under 8 characters is not masked (it would eat ordinary words), except a weak master key the
    # operator allowed, which is masked only where it stands alone.
    assert scrubber.scrub("sk-up tests test, anything-longer") == "sk-up tests ****, ****"
    assert scrubber.scrub_bytes(b"key=test;") == b"key=****;"


def test_key_shapes_relaykit_never_saw_are_masked():
    scrub = Scrubber().scrub
    assert scrub("Incorrect API key provided: sk-proj-abcdefghijklmnop1234.") == "Incorrect API key provided: sk-...1234."
    assert scrub("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig") == "Authorization: Bearer eyJ....sig"
    assert scrub("AKIAIOSFODNN7EXAMPLE ya29.a0AfH6SMBx-token-value AIzaSyA-1234567890abcdefghijklmnopqrstu") == (
        "AKI...MPLE ya2...alue AIz...rstu")
    assert scrub("sk-short and a model named gpt-4o-mini") == "sk-short and a model named gpt-4o-mini"


def test_the_log_filter_masks_messages_arguments_and_tracebacks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(ScrubFilter(Scrubber([CUSTOM_KEY])))
    logger = logging.getLogger("relaykit.test-secrets")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/v1/models?k={CUSTOM_KEY}", "1.1", 200)
        try:
            raise RuntimeError(f"upstream said: bad key {CUSTOM_KEY}")
        except RuntimeError:
            logger.exception("call %s failed", "c-1")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert f'WARNING 127.0.0.1:5000 - "GET /v1/models?k={MASKED[CUSTOM_KEY]} HTTP/1.1" 200' in out  # args kept
    assert f"RuntimeError: upstream said: bad key {MASKED[CUSTOM_KEY]}" in out
    assert_scrubbed(out, CUSTOM_KEY)


async def test_scrub_marked_holds_only_the_error_event():
    scrubber = Scrubber([CUSTOM_KEY])
    error = b'data: {"error": {"message": "bad key ' + CUSTOM_KEY.encode() + b'"}}\n\n'
    plain = [b'data: {"choices": [1]}\n\n', b'data: {"choices": [2]}\n\n']
    # The error event cut every 5 bytes: marker and key both straddle chunks.
    chunks = plain + [error[i:i + 5] for i in range(0, len(error), 5)] + [b"data: [DONE]\n\n"]

    async def source():
        for c in chunks:
            yield c

    out = [c async for c in scrub_marked(source(), b'"error"', scrubber.scrub_bytes)]
    assert out[:2] == plain  # untouched, chunk for chunk
    joined = b"".join(out)
    assert CUSTOM_KEY.encode() not in joined
    assert joined == b"".join(plain) + error.replace(CUSTOM_KEY.encode(), MASKED[CUSTOM_KEY].encode()) + (
        b"data: [DONE]\n\n")


async def _through(chunks: list[bytes], marker: bytes) -> list[bytes]:
    async def source():
        for c in chunks:
            yield c

    scrubber = Scrubber([CUSTOM_KEY])
    return [c async for c in scrub_marked(source(), marker, scrubber.scrub_bytes)]


@pytest.mark.parametrize("where", ["first", "after a whole event", "split after the line end"])
async def test_scrub_marked_finds_anthropics_error_event_at_a_line_start(where):
    error = b'event: error\ndata: {"type":"error","error":{"message":"bad key ' + CUSTOM_KEY.encode() + b'"}}\n\n'
    start = b'event: message_start\ndata: {"type":"message_start"}\n\n'
    chunks = {"first": [error], "after a whole event": [start, error],
              "split after the line end": [start + error[:1], error[1:]]}[where]
    out = b"".join(await _through(chunks, b"\nevent: error"))
    assert CUSTOM_KEY.encode() not in out
    assert out == b"".join(chunks).replace(CUSTOM_KEY.encode(), MASKED[CUSTOM_KEY].encode())


async def test_scrub_marked_leaves_text_that_only_mentions_an_error_alone():
    # A model's answer may say "event: error" or quote "error" and a key-shaped string: it is the client's
    # data in a 2xx stream, so it passes byte for byte, chunk for chunk.
    text = orjson.dumps({"type": "content_block_delta", "delta": {"text": f'event: error "error" {CUSTOM_KEY}'}})
    chunks = [b"event: content_block_delta\ndata: " + text + b"\n\n", b"data: " + text + b"\n\n"]
    assert await _through(chunks, b"\nevent: error") == chunks
    assert await _through(chunks, b'"error"') == chunks


@pytest.mark.parametrize("marker", [b"\nevent: error", b'"error"'])
async def test_scrub_marked_sees_a_marker_spread_over_many_tiny_chunks(marker):
    error = (b'event: error\ndata: {"error": {"message": "bad key ' + CUSTOM_KEY.encode() + b'"}}\n\n')
    start = b'event: message_start\ndata: {"type":"message_start"}\n\n'
    stream = start + error
    chunks = [stream[i:i + 3] for i in range(0, len(stream), 3)]  # every piece shorter than the marker
    out = b"".join(await _through(chunks, marker))
    assert out == stream.replace(CUSTOM_KEY.encode(), MASKED[CUSTOM_KEY].encode())
