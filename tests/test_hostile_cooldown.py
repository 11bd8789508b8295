"""No client can cool a deployment for the others (issue 9, item 5): only the deployment's own failures count.

The upstream is a picky OpenAI-compatible fake that refuses, by what the request says, what relaykit cannot
know to refuse itself: a tool name with a space (400), a body over its own size limit (413), `n` over its
maximum (422, as FastAPI-based servers answer), a model it does not serve (404, behind a wildcard, where the
client picked the name), an over-long prompt (context window) and a forbidden topic (content policy). Twenty
such requests leave the deployment serving everyone, with allowed_fails 0 (one counted failure would cool
it); the contrasting tests show that its own failures (5xx, timeouts, refused connections, our key refused,
429) still cool it at once.
"""

from __future__ import annotations

import asyncio

import httpx
import openai
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.openai_upstream import chat_completion
from tests.routing_helpers import routing
from tests.servers import ServerThread, free_port

KEY = "sk-picky-upstream"
SIZE_LIMIT = 32 * 1024
CONTEXT_CHARS = 8000


def refuse(status: int, message: str, code: str | None = None, param: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}},
                        status_code=status)


class PickyUpstream:
    """Answers like a strict OpenAI-compatible server; records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    async def chat(self, request: Request) -> Response:
        raw = await request.body()
        body = orjson.loads(raw)
        self.requests.append(body)
        if request.headers.get("authorization") != "Bearer " + KEY:
            return JSONResponse({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                           "code": "invalid_api_key"}}, status_code=401)
        if len(raw) > SIZE_LIMIT:
            return refuse(413, f"Request body too large: {len(raw)} bytes, the limit is {SIZE_LIMIT}")
        if body["model"] not in ("gpt-4o", "gpt-4o-mini"):
            return refuse(404, f"The model `{body['model']}` does not exist", "model_not_found")
        for i, tool in enumerate(body.get("tools") or ()):
            if " " in tool["function"]["name"]:
                return refuse(400, f"Invalid 'tools[{i}].function.name': string does not match pattern",
                              "invalid_value", f"tools[{i}].function.name")
        if (body.get("n") or 1) > 4:
            return JSONResponse({"detail": [{"loc": ["body", "n"], "msg": "Input should be less than or equal to 4",
                                             "type": "less_than_equal"}]}, status_code=422)
        text = " ".join(m["content"] for m in body["messages"] if isinstance(m.get("content"), str))
        if len(text) > CONTEXT_CHARS:
            return refuse(400, "This model's maximum context length is 2048 tokens. However, your messages resulted "
                               "in 3000 tokens.", "context_length_exceeded", "messages")
        if "forbidden topic" in text:
            return refuse(400, "Your request was rejected as a result of our safety system.",
                          "content_policy_violation")
        if "please crash" in text:
            return JSONResponse({"error": {"message": "The server had an error", "type": "server_error"}},
                                status_code=500)
        if "please throttle" in text:
            return JSONResponse({"error": {"message": "Rate limit reached", "type": "requests",
                                           "code": "rate_limit_exceeded"}}, status_code=429,
                                headers={"retry-after": "1"})
        if "please be slow" in text:
            await asyncio.sleep(1.0)
        return JSONResponse(chat_completion(body["model"], "fine"))


@pytest.fixture(scope="module")
def picky():
    fake = PickyUpstream()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


def deployment(name: str, model: str, url: str, key: str = KEY, **params) -> dict:
    return {"model_name": name, "litellm_params": {"model": model, "api_base": url + "/v1", "api_key": key, **params}}


@pytest.fixture
def gw(picky, start_gateway):
    picky.requests.clear()
    return start_gateway({"model_list": [deployment("m", "openai/gpt-4o", picky.url),
                                         deployment("openai/*", "openai/*", picky.url)],
                          "router_settings": {"allowed_fails": 0, "cooldown_time": 60, "num_retries": 0}})


def ask(gw, model: str = "m", text: str = "hi", **body) -> httpx.Response:
    payload = {"model": model, "messages": [{"role": "user", "content": text}], **body}
    return httpx.post(gw.url + "/v1/chat/completions", json=payload, timeout=30)


BAD_TOOL = [{"type": "function", "function": {"name": "get weather", "parameters": {"type": "object"}}}]
# (what the request does wrong, the request, the upstream's status relayed to the client, its error code)
REQUEST_FAULTS = [
    ("tool_name_pattern", {"tools": BAD_TOOL}, 400, "invalid_value"),
    ("body_too_large_upstream", {"text": "x" * (SIZE_LIMIT + 10)}, 413, None),
    ("n_out_of_range", {"n": 9}, 422, None),
    ("wildcard_unknown_model", {"model": "openai/gpt-9-imaginary"}, 404, "model_not_found"),
    ("context_window", {"text": "word " * (CONTEXT_CHARS // 4)}, 400, "context_length_exceeded"),
    ("content_policy", {"text": "tell me about the forbidden topic"}, 400, "content_policy_violation"),
]


@pytest.mark.parametrize(("body", "status", "code"), [f[1:] for f in REQUEST_FAULTS], ids=[f[0] for f in REQUEST_FAULTS])
def test_twenty_requests_the_upstream_refuses_cool_nothing(gw, picky, body, status, code):
    for _ in range(20):
        resp = ask(gw, **body)
        assert resp.status_code == status, resp.text
        assert resp.json()["error"]["code"] == code
    assert len(picky.requests) == 20  # they did reach the upstream, which refused each
    assert routing(gw).state.cooling == {}
    # Another client, with a good request, is served by the same deployment (and the wildcard's own model too).
    other = openai.OpenAI(api_key="anything", base_url=gw.url + "/v1", max_retries=0)
    for model in ("m", "openai/gpt-4o-mini"):
        out = other.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello"}])
        assert out.choices[0].message.content == "fine"


def test_a_clients_own_short_request_timeout_cools_nothing(gw, picky):
    for _ in range(3):
        resp = ask(gw, text="please be slow", request_timeout=0.05)
        assert resp.status_code == 504
        assert resp.json()["error"]["code"] == "upstream_timeout"
    assert routing(gw).state.cooling == {}
    assert ask(gw).status_code == 200


# The deployment's own failures, each cooling it at once under allowed_fails 0: the next client gets 429.
def _crash(gw, picky, start_gateway):
    return ask(gw, text="please crash"), 500


def _throttled(gw, picky, start_gateway):
    return ask(gw, text="please throttle"), 429


def _slow(gw, picky, start_gateway):
    timed = start_gateway({"model_list": [deployment("m", "openai/gpt-4o", picky.url, timeout=0.2)],
                           "router_settings": {"allowed_fails": 0, "cooldown_time": 60, "num_retries": 0}})
    return ask(timed, text="please be slow"), 504, timed


def _refused(gw, picky, start_gateway):
    closed = start_gateway({"model_list": [deployment("m", "openai/gpt-4o", f"http://127.0.0.1:{free_port()}")],
                            "router_settings": {"allowed_fails": 0, "cooldown_time": 60, "num_retries": 0}})
    return ask(closed), 502, closed


def _wrong_key(gw, picky, start_gateway):
    revoked = start_gateway({"model_list": [deployment("m", "openai/gpt-4o", picky.url, key="sk-revoked")],
                             "router_settings": {"allowed_fails": 3, "cooldown_time": 60, "num_retries": 0}})
    return ask(revoked), 401, revoked


def _configured_model_missing(gw, picky, start_gateway):
    gone = start_gateway({"model_list": [deployment("m", "openai/gpt-3-retired", picky.url)],
                          "router_settings": {"allowed_fails": 3, "cooldown_time": 60, "num_retries": 0}})
    return ask(gone), 404, gone


@pytest.mark.parametrize("fault", [_crash, _throttled, _slow, _refused, _wrong_key, _configured_model_missing],
                         ids=["5xx", "429", "timeout", "refused", "401_our_key", "404_configured_model"])
def test_the_deployments_own_failures_still_cool_it(gw, picky, start_gateway, fault):
    resp, status, *other = fault(gw, picky, start_gateway)
    target = other[0] if other else gw
    assert resp.status_code == status, resp.text
    assert len(routing(target).state.cooling) == 1
    after = ask(target)  # a good request from anyone now finds the group cooling
    assert after.status_code == 429
    assert after.json()["error"]["code"] == "no_deployments_available"


def test_bad_request_allowed_fails_is_an_opt_in_for_400s_only(picky, start_gateway):
    """LiteLLM's BadRequestErrorAllowedFails lets an operator count upstream 400s; it never takes in the
    413, 422 or wildcard 404 that LiteLLM types apart, nor the context window."""
    picky.requests.clear()
    gw = start_gateway({"model_list": [deployment("m", "openai/gpt-4o", picky.url),
                                       deployment("openai/*", "openai/*", picky.url)],
                        "router_settings": {"allowed_fails": 0, "cooldown_time": 60, "num_retries": 0,
                                            "allowed_fails_policy": {"BadRequestErrorAllowedFails": 1}}})
    for body, status in ((f[1], f[2]) for f in REQUEST_FAULTS if f[0] != "tool_name_pattern" and f[0] != "content_policy"):
        for _ in range(3):
            assert ask(gw, **body).status_code == status
    assert routing(gw).state.cooling == {}
    assert ask(gw, tools=BAD_TOOL).status_code == 400
    assert routing(gw).state.cooling == {}  # one 400 allowed
    assert ask(gw, tools=BAD_TOOL).status_code == 400
    assert len(routing(gw).state.cooling) == 1  # the second one, past the allowance, cools it
    assert ask(gw).status_code == 429


def test_the_reported_case_tools_x_never_reaches_the_upstream(fake_openai, start_gateway):
    """The issue's probe: `"tools": "x"` five times cooled the deployment, because relaykit forwarded it and
    the upstream (this fake, like many servers) crashed on it with a 500, which is rightly a health failure.
    Now decode refuses it, so nothing reaches the upstream and nothing cools."""
    gw = start_gateway({"model_list": [deployment("m", "openai/gpt-4o", fake_openai.url)],
                        "router_settings": {"allowed_fails": 0, "cooldown_time": 60}})
    for _ in range(5):
        resp = ask(gw, tools="x")
        assert resp.status_code == 400
        assert resp.json()["error"]["param"] == "tools"
    assert fake_openai.requests == []
    assert routing(gw).state.cooling == {}
    assert ask(gw).status_code == 200
