"""Gemini translation details the contract snapshots do not pin: schema reduction edge cases, blocked prompts,
errors inside a stream, several candidates, thoughts, and message shapes."""

from __future__ import annotations

import copy

import orjson
import pytest

from kernel import errors, registry
from kernel.config import build_deployment
from providers.gemini_request import chat_body
from providers.gemini_schema import reduce_schema
from tests.contract import FIXTURES, call_for, collect_stream

registry.load_plugins()
GEMINI = registry.PROVIDERS["gemini"]


def deployment():
    problems: list[str] = []
    d = build_deployment({"model_name": "flash", "litellm_params": {"model": "gemini/gemini-2.0-flash",
                                                                    "api_key": "k"}}, 0, problems, [], "t.yaml")
    assert not problems
    return d


def chat_call(**body):
    call = call_for({"endpoint": "chat", "body": {"model": "flash", "messages": [], **body}})
    call.deployment = deployment()
    return call


def sse(*events: dict) -> bytes:
    return b"".join(b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events)


def test_schema_reduction_edge_cases():
    schema = {
        "type": "object", "title": "Node", "additionalProperties": False,
        "definitions": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/definitions/Node"}}}},
        "properties": {
            "tree": {"$ref": "#/definitions/Node"},
            "merged": {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}}], "description": "d"},
            "either": {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
            "level": {"type": "integer", "enum": [1, 2, 3]},
            "tags": {"type": "array", "items": {"type": "string", "format": "uri"}, "uniqueItems": True},
        },
        "required": ["tree", "ghost"],
    }
    original = copy.deepcopy(schema)
    out = reduce_schema(schema)
    assert schema == original  # the client's tools are never modified
    assert out["required"] == ["tree"]
    assert out["properties"]["merged"] == {"type": "object", "properties": {"a": {"type": "string"}}, "description": "d"}
    assert out["properties"]["either"] == {"nullable": True, "anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert out["properties"]["level"] == {"type": "integer"}  # Gemini enums are strings only
    assert out["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    depth, node = 0, out["properties"]["tree"]
    while "properties" in node:  # the recursive ref is unrolled to a bounded depth, then left open
        node = node["properties"]["child"]
        depth += 1
    assert node == {"type": "object"} and 5 < depth < 40
    assert "$ref" not in orjson.dumps(out).decode()


def test_messages_become_alternating_contents():
    body = chat_body({"messages": [
        {"role": "user", "content": "one"},
        {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                                     {"type": "image_url", "image_url": {"url": "https://x.test/a.png?size=2"}}]},
        {"role": "assistant", "content": "", "function_call": {"name": "lookup", "arguments": '{"q": 1}'}},
        {"role": "function", "name": "lookup", "content": "[1, 2]"},
    ]})
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "one"}, {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                                   {"fileData": {"mimeType": "image/png", "fileUri": "https://x.test/a.png?size=2"}}]},
        {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {"q": 1}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "lookup", "response": {"content": [1, 2]}}}]},
    ]


def test_bad_tool_arguments_are_a_client_error():
    with pytest.raises(errors.ClientError, match="JSON object"):
        chat_body({"messages": [{"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]})


def test_blocked_prompt_is_content_policy_naming_the_deployment():
    data = (FIXTURES / "gemini" / "blocked_prompt.json").read_bytes()
    call = chat_call()
    with pytest.raises(errors.ContentPolicy) as info:
        GEMINI.parse_response(call, data)
    assert "blockReason SAFETY" in info.value.message
    assert info.value.deployment == call.deployment.id and info.value.status == 400


def test_blocked_prompt_in_a_stream():
    call = chat_call(stream=True)
    with pytest.raises(errors.ContentPolicy):
        collect_stream(GEMINI, call, sse({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}))


def test_error_event_in_a_stream_is_typed():
    call = chat_call(stream=True)
    data = sse({"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}, "index": 0}]},
               {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}})
    with pytest.raises(errors.UpstreamUnavailable) as info:
        collect_stream(GEMINI, call, data)
    assert info.value.retryable


def test_several_candidates_and_thoughts():
    data = orjson.dumps({"candidates": [
        {"content": {"parts": [{"text": "Let me think.", "thought": True}, {"text": "A"}], "role": "model"},
         "finishReason": "STOP", "index": 0},
        {"content": {"parts": [{"text": "B"}], "role": "model"}, "finishReason": "MAX_TOKENS", "index": 1},
    ], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}})
    out = GEMINI.parse_response(chat_call(n=2), data)
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in out["choices"]] == [
        (0, "A", "stop"), (1, "B", "length")]
    assert out["choices"][0]["message"]["reasoning_content"] == "Let me think."
    assert out["model"] == "gemini-2.0-flash"  # no modelVersion in the answer: the deployment's model


def test_stream_chunking_does_not_matter():
    data = (FIXTURES / "gemini" / "chat_stream.txt").read_bytes()
    call = chat_call(stream=True)
    whole = collect_stream(GEMINI, call, data, piece=len(data))
    assert collect_stream(GEMINI, call, data, piece=1) == whole
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in whole if c["choices"]) == \
        "The sky is blue because of Rayleigh scattering.\n"


def test_api_key_is_never_in_the_url():
    req = GEMINI.build_request(chat_call(messages=[{"role": "user", "content": "hi"}]), deployment())
    assert "key=" not in req.url and req.headers["x-goog-api-key"] == "k"


def test_system_only_conversation_becomes_a_user_turn():
    body = chat_body({"messages": [{"role": "system", "content": "Say hi."}]})
    assert body == {"contents": [{"role": "user", "parts": [{"text": "Say hi."}]}]}


def test_a_key_is_required_at_startup_unless_clients_may_bring_one(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    problems: list[str] = []
    build_deployment({"model_name": "f", "litellm_params": {"model": "gemini/gemini-2.0-flash"}}, 0, problems, [], "t")
    assert problems and "GEMINI_API_KEY" in problems[0]
    problems.clear()
    build_deployment({"model_name": "f", "litellm_params": {"model": "gemini/gemini-2.0-flash",
                                                            "configurable_clientside_auth_params": ["api_key"]}},
                     0, problems, [], "t")
    assert problems == []
