"""A native /v1/messages pass-through still honours the deployment's additional_drop_params."""

from __future__ import annotations

import orjson

from kernel import registry
from kernel.call import Call
from kernel.config import build_deployment


def test_native_body_loses_always_dropped_paths_and_keeps_the_rest():
    problems: list[str] = []
    d = build_deployment({"model_name": "claude", "litellm_params": {
        "model": "anthropic/claude-sonnet-4-5", "api_key": "sk-ant-test",
        "additional_drop_params": ["tools[*].input_examples", "metadata"]}}, 0, problems, [], "c.yaml")
    assert not problems
    native = {"model": "claude", "max_tokens": 64, "metadata": {"user_id": "u"},
              "messages": [{"role": "user", "content": [{"type": "text", "text": "hi",
                                                        "cache_control": {"type": "ephemeral"}}]}],
              "tools": [{"name": "t", "input_schema": {"type": "object"}, "input_examples": [{}]}]}
    call = Call(id="c", route="messages", endpoint="chat", dialect="anthropic", native=native,
                body={"model": "claude", "messages": [{"role": "user", "content": "hi"}]}, model="claude")
    req = registry.PROVIDERS["anthropic"].build_request(call, d)
    sent = orjson.loads(req.content)
    assert "metadata" not in sent
    assert sent["tools"] == [{"name": "t", "input_schema": {"type": "object"}}]
    assert sent["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}  # native fields survive
    assert sent["model"] == "claude-sonnet-4-5"
    assert native["tools"][0]["input_examples"] == [{}]  # the client's body itself is never mutated
