"""Fuzz the decode step through the real gateway: random request bodies of the right and wrong shapes.

Every answer must be a 2xx, or a 4xx in the client's own envelope with no upstream call made; never a 5xx.
Bodies are drawn two ways: valid-shaped ones with unusual values (so they reach every provider's
translator: echo, OpenAI, Anthropic, Gemini, Cohere, Ollama), and the same bodies with one value somewhere
replaced by random JSON or removed (so they exercise the type checks). The upstream is one canned fake
that answers every wire format with a recorded success, so any failure is the gateway's.

CI runs a fixed, derandomized set of examples (the `ci` profile); elsewhere each run explores new ones
(HYPOTHESIS_PROFILE=ci reproduces CI's, HYPOTHESIS_PROFILE=deep hunts longer).
"""

from __future__ import annotations

import os

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.fakes.canned_upstream import CannedUpstream
from tests.servers import ServerThread, gateway

_COMMON = {"deadline": None, "database": None, "print_blob": True,
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
settings.register_profile("ci", max_examples=300, derandomize=True, **_COMMON)
settings.register_profile("dev", max_examples=300, **_COMMON)
settings.register_profile("deep", max_examples=5000, **_COMMON)  # a long local hunt: HYPOTHESIS_PROFILE=deep
PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")

CHAT_MODELS = ["echo/fuzz", "oa", "claude", "gem", "co", "ol"]
EMBED_MODELS = ["echo/fuzz", "oa", "gem-embed", "co", "ol"]


@pytest.fixture(scope="module")
def fuzz_gateway(tmp_path_factory):
    upstream = CannedUpstream()
    with ServerThread(upstream.app) as up:
        def entry(name: str, model: str, **params) -> dict:
            return {"model_name": name, "litellm_params": {"model": model, **params}}

        config = {"model_list": [
            entry("echo/*", "echo/*"),
            entry("oa", "openai/gpt-4o", api_base=up.url + "/v1", api_key="sk-oa"),
            entry("claude", "anthropic/claude-sonnet-4-5", api_base=up.url, api_key="sk-ant"),
            entry("gem", "gemini/gemini-2.0-flash", api_base=up.url + "/v1beta", api_key="gm-key"),
            entry("gem-embed", "gemini/text-embedding-004", api_base=up.url + "/v1beta", api_key="gm-key"),
            entry("co", "cohere/command-a-03-2025", api_base=up.url, api_key="co-key"),
            entry("ol", "ollama_chat/llama3.2", api_base=up.url),
        ]}
        # drop_params: parameters a provider does not take are dropped rather than refused, so more bodies
        # reach the translators (refusing them is tested in test_param_drop.py).
        with gateway(config, tmp_path_factory.mktemp("fuzz"), drop_params=True) as gw, \
                httpx.Client(base_url=gw.url, timeout=30) as client:
            yield client, upstream


# -- strategies -------------------------------------------------------------------------------------------

chars = st.characters(blacklist_categories=("Cs",))  # no lone surrogates: they are not valid UTF-8 JSON
text = st.text(chars, max_size=10)
scalars = st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.floats(allow_nan=False, allow_infinity=False) | text
garbage = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                       max_leaves=6)
small_int = st.integers(1, 64)
schema = st.one_of(
    st.just({"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}),
    st.just({"type": "object"}),
    st.dictionaries(st.sampled_from(["type", "properties", "enum", "items", "required", "$ref", "anyOf"]), garbage,
                    max_size=3),
)
data_url = st.sampled_from(["data:image/png;base64,iVBORw0KGgo=", "data:application/pdf;base64,JVBERi0=",
                            "data:text/plain,hello", "https://example.invalid/cat.png", ""])

part = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": text}),
    st.fixed_dictionaries({"type": st.just("image_url"), "image_url": st.one_of(
        data_url, st.fixed_dictionaries({"url": data_url}, optional={"detail": st.sampled_from(["low", "auto"])}))}),
    st.fixed_dictionaries({"type": st.just("input_audio"), "input_audio": st.fixed_dictionaries(
        {"data": text}, optional={"format": st.sampled_from(["wav", "mp3", "x"])})}),
    st.fixed_dictionaries({"type": st.just("file"), "file": st.fixed_dictionaries({}, optional={
        "file_data": data_url, "file_id": text, "filename": text})}),
    st.fixed_dictionaries({"type": st.sampled_from(["refusal"]), "refusal": text}),
    st.fixed_dictionaries({"type": st.sampled_from(["thinking", "video_url", "x"])}),
)
content = st.one_of(text, st.lists(part, max_size=3))
tool_call = st.fixed_dictionaries(
    {"function": st.fixed_dictionaries({"name": text}, optional={
        "arguments": st.sampled_from(["{}", '{"location": "Boston"}', "[1, 2]", "7", "", "not json"])})},
    optional={"id": text, "type": st.just("function")})


@st.composite
def chat_message(draw) -> dict:
    role = draw(st.sampled_from(["system", "developer", "user", "assistant", "tool", "function"]))
    if role == "assistant":
        m = {"role": role, "content": draw(st.none() | content)}
        calls = draw(st.lists(tool_call, max_size=2))
        if calls:
            m["tool_calls"] = calls
        if draw(st.booleans()):
            m["thinking_blocks"] = [{"type": "thinking", "thinking": draw(text), "signature": "sig"}]
        return m
    m = {"role": role, "content": draw(st.none() | content) if role == "function" else draw(content)}
    if role in ("tool", "function"):
        m["tool_call_id" if role == "tool" else "name"] = draw(text)
    elif draw(st.booleans()):
        m["name"] = draw(text)
    return m


tool = st.one_of(
    st.fixed_dictionaries({"type": st.just("function"), "function": st.fixed_dictionaries(
        {"name": text}, optional={"description": text, "parameters": schema, "strict": st.booleans()})}),
    st.fixed_dictionaries({"type": st.just("web_search_20250305"), "name": text}),
    st.just({"googleSearch": {}}),
)
CHAT_OPTIONAL = {
    "temperature": st.floats(0, 2), "top_p": st.floats(0, 1), "max_tokens": small_int,
    "max_completion_tokens": small_int, "n": st.integers(1, 2), "seed": st.integers(0, 2**31),
    "stop": st.one_of(text, st.lists(text, max_size=3)), "stream": st.booleans(),
    "stream_options": st.fixed_dictionaries({}, optional={"include_usage": st.booleans()}),
    "presence_penalty": st.floats(-2, 2), "frequency_penalty": st.floats(-2, 2),
    "logit_bias": st.dictionaries(st.sampled_from(["50256", "42"]), st.integers(-100, 100)),
    "logprobs": st.booleans(), "top_logprobs": st.integers(0, 5), "user": text,
    "response_format": st.one_of(
        st.just({"type": "text"}), st.just({"type": "json_object"}),
        st.fixed_dictionaries({"type": st.just("json_schema"), "json_schema": st.fixed_dictionaries(
            {"name": text}, optional={"schema": schema, "strict": st.booleans()})})),
    "tools": st.lists(tool, max_size=3),
    "tool_choice": st.one_of(st.sampled_from(["auto", "none", "required", "any", "x"]),
                             st.fixed_dictionaries({"type": st.just("function"),
                                                    "function": st.fixed_dictionaries({"name": text})})),
    "parallel_tool_calls": st.booleans(),
    "reasoning_effort": st.sampled_from(["low", "medium", "high", "none", "minimal", "x"]),
    "thinking": st.fixed_dictionaries({"type": st.just("enabled"), "budget_tokens": st.integers(1, 4096)}),
    "top_k": small_int,
    "modalities": st.lists(st.sampled_from(["text", "audio"]), max_size=2),
}
chat_body = st.fixed_dictionaries(
    {"model": st.sampled_from(CHAT_MODELS), "messages": st.lists(chat_message(), min_size=1, max_size=4)},
    optional=CHAT_OPTIONAL)
token_input = st.one_of(text, st.lists(text, min_size=1, max_size=3), st.lists(st.integers(0, 50000), min_size=1,
                                                                                max_size=4),
                        st.lists(st.lists(st.integers(0, 50000), min_size=1, max_size=3), min_size=1, max_size=2))
completions_body = st.fixed_dictionaries(
    {"model": st.sampled_from(["echo/fuzz", "oa"]), "prompt": token_input},
    optional={"max_tokens": small_int, "temperature": st.floats(0, 2), "stream": st.booleans(), "echo": st.booleans(),
              "logprobs": st.integers(0, 5), "suffix": text, "stop": st.one_of(text, st.lists(text, max_size=2))})
embeddings_body = st.fixed_dictionaries(
    {"model": st.sampled_from(EMBED_MODELS), "input": token_input},
    optional={"dimensions": small_int, "encoding_format": st.sampled_from(["float", "base64"]), "user": text})

# Anthropic Messages bodies, for /v1/messages.
source = st.one_of(
    st.fixed_dictionaries({"type": st.just("base64"), "media_type": st.sampled_from(["image/png", "application/pdf"]),
                           "data": st.just("iVBORw0KGgo=")}),
    st.fixed_dictionaries({"type": st.just("url"), "url": st.just("https://example.invalid/a.png")}),
    st.fixed_dictionaries({"type": st.just("text"), "media_type": st.just("text/plain"), "data": text}),
)
user_block = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": text}, optional={"cache_control": st.just({"type": "ephemeral"})}),
    st.fixed_dictionaries({"type": st.just("image"), "source": source}),
    st.fixed_dictionaries({"type": st.just("document"), "source": source}, optional={"title": text}),
    st.fixed_dictionaries({"type": st.just("tool_result"), "tool_use_id": st.text(chars, min_size=1, max_size=8)}, optional={
        "content": st.one_of(text, st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": text}), max_size=2)),
        "is_error": st.booleans()}),
)
assistant_block = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": text}),
    st.fixed_dictionaries({"type": st.just("tool_use"), "id": st.text(chars, min_size=1, max_size=8),
                           "name": st.text(chars, min_size=1, max_size=8), "input": st.dictionaries(text, scalars, max_size=2)}),
    st.fixed_dictionaries({"type": st.just("thinking"), "thinking": text, "signature": st.just("sig")}),
)
anthropic_message = st.one_of(
    st.fixed_dictionaries({"role": st.just("user"), "content": st.one_of(text, st.lists(user_block, max_size=3))}),
    st.fixed_dictionaries({"role": st.just("assistant"), "content": st.one_of(text, st.lists(assistant_block,
                                                                                             max_size=3))}),
)
anthropic_tool = st.one_of(
    st.fixed_dictionaries({"name": st.text(chars, min_size=1, max_size=8), "input_schema": schema},
                          optional={"description": text}),
    st.fixed_dictionaries({"type": st.just("web_search_20250305"), "name": st.just("web_search")}),
)
messages_body = st.fixed_dictionaries(
    {"model": st.sampled_from(CHAT_MODELS), "max_tokens": small_int,
     "messages": st.lists(anthropic_message, min_size=1, max_size=4)},
    optional={
        "system": st.one_of(text, st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": text}), max_size=2)),
        "temperature": st.floats(0, 1), "top_p": st.floats(0, 1), "top_k": small_int,
        "stop_sequences": st.lists(text, max_size=2), "stream": st.booleans(),
        "metadata": st.fixed_dictionaries({}, optional={"user_id": text}),
        "tools": st.lists(anthropic_tool, max_size=2),
        "tool_choice": st.one_of(st.fixed_dictionaries({"type": st.sampled_from(["auto", "any", "none"])}),
                                 st.fixed_dictionaries({"type": st.just("tool"), "name": text})),
        "thinking": st.fixed_dictionaries({"type": st.just("enabled"), "budget_tokens": st.integers(1024, 4096)}),
    })


@st.composite
def corrupted(draw, bodies):
    """A body with one value, somewhere down its tree, replaced by random JSON or removed."""
    body = orjson.loads(orjson.dumps(draw(bodies)))  # a private copy to edit
    node = body
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, (dict, list)) and child and draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and draw(st.integers(0, 3)) == 0:
            del node[key]
        else:
            node[key] = draw(garbage)
        break
    return body


def either(bodies):
    return st.one_of(bodies, corrupted(bodies))


# -- the checks -------------------------------------------------------------------------------------------

def send(fuzz_gateway, path: str, body: dict, dialect: str) -> None:
    client, upstream = fuzz_gateway
    before = len(upstream.requests)
    resp = client.post(path, content=orjson.dumps(body), headers={"content-type": "application/json"})
    data = resp.read()
    model = body.get("model") if isinstance(body, dict) else None
    event(f"{model if isinstance(model, str) else '?'} → {resp.status_code // 100}xx")  # --hypothesis-show-statistics
    assert resp.status_code < 500, (resp.status_code, data[:500], body)
    if resp.status_code >= 400:
        assert len(upstream.requests) == before, ("a 4xx after an upstream call", data[:300], body)
        err = orjson.loads(data)
        if dialect == "anthropic":
            assert err["type"] == "error" and isinstance(err["error"]["message"], str), err
            assert isinstance(err["error"]["type"], str)
        else:
            assert set(err["error"]) == {"message", "type", "param", "code"}, err
            assert isinstance(err["error"]["message"], str)
        return
    assert 200 <= resp.status_code < 300
    if resp.headers["content-type"].startswith("text/event-stream"):
        # A stream that started must not end in an in-band error: the canned upstream answered well.
        assert b'data: {"error"' not in data and b"event: error" not in data, (data[-500:], body)
    else:
        orjson.loads(data)


@settings(settings.get_profile(PROFILE))
@given(body=either(chat_body))
def test_chat_bodies_never_5xx(fuzz_gateway, body):
    send(fuzz_gateway, "/v1/chat/completions", body, "openai")


@settings(settings.get_profile(PROFILE), max_examples=settings.get_profile(PROFILE).max_examples // 2)
@given(body=either(completions_body))
def test_completions_bodies_never_5xx(fuzz_gateway, body):
    send(fuzz_gateway, "/v1/completions", body, "openai")


@settings(settings.get_profile(PROFILE), max_examples=settings.get_profile(PROFILE).max_examples // 2)
@given(body=either(embeddings_body))
def test_embeddings_bodies_never_5xx(fuzz_gateway, body):
    send(fuzz_gateway, "/v1/embeddings", body, "openai")


@settings(settings.get_profile(PROFILE))
@given(body=either(messages_body))
def test_anthropic_messages_bodies_never_5xx(fuzz_gateway, body):
    send(fuzz_gateway, "/v1/messages", body, "anthropic")


@settings(settings.get_profile(PROFILE), max_examples=settings.get_profile(PROFILE).max_examples // 3)
@given(body=garbage)
def test_any_json_at_all_is_a_4xx_or_2xx(fuzz_gateway, body):
    for path, dialect in (("/v1/chat/completions", "openai"), ("/v1/messages", "anthropic")):
        send(fuzz_gateway, path, body, dialect)
