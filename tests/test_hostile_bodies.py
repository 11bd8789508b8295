"""Malformed bodies that used to be 500s (issue 9, item 9): each is a 400 naming the field, before any upstream call.

The real gateway in front of fake OpenAI, Anthropic and Gemini upstreams; every case is sent to a
deployment of each, and each fake must have recorded nothing.
"""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.fakes.gemini_upstream import API_KEY, FakeGemini
from tests.servers import ServerThread, gateway

USER = [{"role": "user", "content": "hi"}]
MODELS = ["oa", "claude", "gem"]


@pytest.fixture(scope="module")
def gemini_upstream():
    fake = FakeGemini()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture(scope="module")
def gw(openai_upstream, anthropic_upstream, gemini_upstream, tmp_path_factory):
    config = {"model_list": [
        {"model_name": "oa", "litellm_params": {"model": "openai/gpt-4o", "api_base": openai_upstream.url + "/v1",
                                                "api_key": "sk-oa"}},
        {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-sonnet-4-5",
                                                    "api_base": anthropic_upstream.url, "api_key": "sk-ant"}},
        {"model_name": "gem", "litellm_params": {"model": "gemini/gemini-2.0-flash", "api_key": API_KEY,
                                                 "api_base": gemini_upstream.url + "/v1beta"}},
        {"model_name": "whisper", "litellm_params": {"model": "openai/whisper-1", "api_base": openai_upstream.url + "/v1",
                                                     "api_key": "sk-oa"}},
    ]}
    with gateway(config, tmp_path_factory.mktemp("bodies")) as server:
        yield server


@pytest.fixture
def upstreams(openai_upstream, anthropic_upstream, gemini_upstream):
    fakes = (openai_upstream, anthropic_upstream, gemini_upstream)
    for fake in fakes:
        fake.requests.clear()
    yield fakes
    assert [len(f.requests) for f in fakes] == [0, 0, 0], "a malformed body reached an upstream"


def post(gw, path: str, body, content_type: str = "application/json") -> httpx.Response:
    return httpx.post(gw.url + path, content=orjson.dumps(body), headers={"content-type": content_type}, timeout=30)


# (name, body fields over a valid chat body, the param the 400 names, words the message must contain)
CHAT_CASES = [
    ("content_123", {"messages": [{"role": "user", "content": 123}]}, "messages[0].content",
     "must be a string or an array of content parts, got an integer"),
    ("tool_calls_x", {"messages": [*USER, {"role": "assistant", "content": None, "tool_calls": "x"}, *USER]},
     "messages[1].tool_calls", "must be an array of tool calls, got a string"),
    ("stop_123", {"stop": 123}, "stop", "must be a string or an array of strings, got an integer"),
    ("stream_options_x", {"stream": True, "stream_options": "x"}, "stream_options", "must be an object, got a string"),
    ("tools_x", {"tools": "x"}, "tools", "must be an array of tools, got a string"),
    ("tool_without_function", {"tools": [{"type": "function"}]}, "tools[0].function", "is required"),
    ("part_text_5", {"messages": [*USER, {"role": "user", "content": [{"type": "text", "text": 5}]}]},
     "messages[1].content[0].text", "must be a string, got an integer"),
    ("part_without_type", {"messages": [{"role": "user", "content": [{"text": "x"}]}]},
     "messages[0].content[0].type", "is required: expected a string"),
    ("arguments_object", {"messages": [*USER, {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}, *USER]},
     "messages[1].tool_calls[0].function.arguments", "must be a string, got an object"),
    ("user_content_null", {"messages": [{"role": "user", "content": None}]}, "messages[0].content", "is required"),
    ("temperature_string", {"temperature": "hot"}, "temperature", "must be a number, got a string"),
    ("max_tokens_float", {"max_tokens": 1.5}, "max_tokens", "must be an integer, got a number"),
    ("max_tokens_bool", {"max_tokens": True}, "max_tokens", "must be an integer, got a boolean"),
    ("response_format_schema_x", {"response_format": {"type": "json_schema", "json_schema": "x"}},
     "response_format.json_schema", "must be an object"),
    ("tool_choice_number", {"tool_choice": 3}, "tool_choice", "got an integer"),
    ("logit_bias_string_value", {"logit_bias": {"50256": "a lot"}}, "logit_bias.50256", "must be a number"),
    ("user_object", {"user": {"id": 1}}, "user", "must be a string, got an object"),
]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(("fields", "param", "words"), [c[1:] for c in CHAT_CASES], ids=[c[0] for c in CHAT_CASES])
def test_malformed_chat_field_is_a_400_naming_it(gw, upstreams, model, fields, param, words):
    resp = post(gw, "/v1/chat/completions", {"model": model, "messages": USER, **fields})
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert param in error["message"] and words in error["message"], error["message"]


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/chat/completions", {"model": "oa", "messages": USER}),
    ("/v1/audio/transcriptions", {"model": "whisper", "file": "x"}),
])
@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary=xyz"])
def test_a_json_body_sent_as_multipart_is_a_400_naming_the_content_type(gw, upstreams, path, body, content_type):
    resp = post(gw, path, body, content_type=content_type)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["param"] == "content-type"
    assert f"Content-Type {content_type!r}" in error["message"]


def test_a_json_body_sent_as_multipart_to_v1_messages_is_a_400_naming_the_content_type(gw, upstreams):
    resp = post(gw, "/v1/messages", {"model": "claude", "max_tokens": 5, "messages": USER},
                content_type="multipart/form-data; boundary=xyz")
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "Content-Type 'multipart/form-data; boundary=xyz'" in error["message"]


@pytest.mark.parametrize(("body", "param"), [
    ({"input": {"text": "x"}}, "input"),
    ({"input": [1, "a"]}, "input"),
    ({"input": [[1, 2], "a"]}, "input"),
    ({"input": "x", "dimensions": "8"}, "dimensions"),
])
def test_malformed_embeddings_input_is_a_400(gw, upstreams, body, param):
    resp = post(gw, "/v1/embeddings", {"model": "oa", **body})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param


def test_malformed_completions_prompt_is_a_400(gw, upstreams):
    resp = post(gw, "/v1/completions", {"model": "oa", "prompt": {"text": "x"}})
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "prompt"


ANTHROPIC_CASES = [
    ("content_123", {"messages": [{"role": "user", "content": 123}]}, "messages.0.content"),
    ("tool_use_name_5", {"messages": [*USER, {"role": "assistant", "content": [
        {"type": "tool_use", "id": "t1", "name": 5, "input": {}}]}, *USER]}, "messages.1.content.0"),
    ("tool_use_input_list", {"messages": [*USER, {"role": "assistant", "content": [
        {"type": "tool_use", "id": "t1", "name": "f", "input": [1]}]}, *USER]}, "messages.1.content.0.input"),
    ("tool_result_id_5", {"messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": 5, "content": "x"}]}]}, "messages.0.content.0.tool_use_id"),
    ("document_source_string", {"messages": [{"role": "user", "content": [
        {"type": "document", "source": "x"}]}]}, "messages.0.content.0.source"),
    ("empty_content", {"messages": [{"role": "user", "content": []}, *USER]}, "messages.0.content"),
    ("tool_choice_name_5", {"tools": [{"name": "f", "input_schema": {"type": "object"}}],
                            "tool_choice": {"type": "tool", "name": 5}}, "tool_choice.name"),
    ("tool_description_5", {"tools": [{"name": "f", "description": 5, "input_schema": {"type": "object"}}]},
     "tools.0.description"),
    ("top_k_string", {"top_k": "x"}, "top_k"),
    ("stop_sequences_123", {"stop_sequences": 123}, "stop_sequences"),
    ("metadata_user_id_5", {"metadata": {"user_id": 5}}, "metadata.user_id"),
    ("thinking_string", {"thinking": "on"}, "thinking"),
]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(("fields", "param"), [c[1:] for c in ANTHROPIC_CASES], ids=[c[0] for c in ANTHROPIC_CASES])
def test_malformed_anthropic_field_is_a_400_in_anthropics_envelope(gw, upstreams, model, fields, param):
    resp = post(gw, "/v1/messages", {"model": model, "max_tokens": 10, "messages": USER, **fields})
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith(param + ":"), body["error"]["message"]


def test_unusual_but_valid_shapes_reach_every_provider(gw, openai_upstream, anthropic_upstream, gemini_upstream):
    """The checks refuse wrong types only: content parts, a string image_url, null assistant content with tool
    calls and stop as a list all pass, and each translator copes with them."""
    messages = [{"role": "system", "content": [{"type": "text", "text": "be brief"}]},
                {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                             {"type": "image_url", "image_url": "https://example.invalid/cat.png"}]},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "a cat"}]},
                {"role": "user", "content": "thanks", "name": None}]
    for model, fake in (("oa", openai_upstream), ("claude", anthropic_upstream), ("gem", gemini_upstream)):
        fake.requests.clear()
        resp = post(gw, "/v1/chat/completions", {"model": model, "messages": messages, "stop": ["END"],
                                                 "tools": [{"type": "function", "function": {"name": "look"}}]})
        assert resp.status_code == 200, (model, resp.text)
        assert len(fake.requests) == 1
