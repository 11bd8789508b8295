"""Canonical chat ↔ Bedrock Converse: the request body, the response, and ConverseStream events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from kernel.call import Call
from kernel.errors import ClientError
from kernel.guards.answers import json_object
from providers.aws_eventstream import messages
from providers.shared.content_parts import data_url, image_url, parts, text_of
from providers.shared.replies import created_at, model_of

STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
        "guardrail_intervened": "content_filter", "content_filtered": "content_filter",
        "model_context_window_exceeded": "length"}
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


def _image(url: str) -> dict:
    parsed = data_url(url)
    if parsed is None:
        raise ClientError("Bedrock takes images inline only: send image_url as a base64 data URL", param="messages")
    fmt = IMAGE_FORMATS.get(parsed.mime)
    if fmt is None:
        raise ClientError(f"Bedrock does not take images of type {parsed.mime!r}", param="messages")
    return {"image": {"format": fmt, "source": {"bytes": parsed.data}}}


def _blocks(content: Any) -> list[dict]:
    out = []
    for part in parts(content):
        if part.get("type") == "text" and part.get("text"):
            out.append({"text": part["text"]})
        elif part.get("type") == "image_url":
            out.append(_image(image_url(part)))
    return out


def _tool_result(m: dict) -> dict:
    content = m.get("content")
    if isinstance(content, list):
        content = text_of(content)
    elif content is None:
        content = ""
    block: dict
    try:
        value = orjson.loads(content) if isinstance(content, str) else content
        block = {"json": value} if isinstance(value, dict) else {"text": str(content)}
    except orjson.JSONDecodeError:
        block = {"text": content}
    return {"toolResult": {"toolUseId": m.get("tool_call_id", ""), "content": [block]}}


def _tool_use(tc: dict) -> dict:
    fn = tc.get("function") or {}
    raw = fn.get("arguments") or "{}"
    try:
        args = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        raise ClientError("tool_calls[].function.arguments must be JSON", param="messages") from None
    return {"toolUse": {"toolUseId": tc.get("id", ""), "name": fn.get("name", ""), "input": args}}


def to_messages(messages_in: list[dict]) -> tuple[list[dict], list[dict]]:
    """(system blocks, messages); Converse insists that roles alternate, so same-role turns are merged."""
    system: list[dict] = []
    out: list[dict] = []
    for m in messages_in:
        role = m.get("role")
        if role in ("system", "developer"):
            system.extend(_blocks(m.get("content")))
            continue
        if role == "assistant":
            blocks = _blocks(m.get("content")) + [_tool_use(tc) for tc in m.get("tool_calls") or ()]
            bedrock_role = "assistant"
        elif role == "tool":
            blocks, bedrock_role = [_tool_result(m)], "user"
        else:
            blocks, bedrock_role = _blocks(m.get("content")), "user"
        if not blocks:
            continue
        if out and out[-1]["role"] == bedrock_role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": bedrock_role, "content": blocks})
    return system, out


def tool_config(body: dict) -> dict | None:
    specs = []
    for t in body.get("tools") or ():
        if not isinstance(t, dict) or t.get("type") != "function":
            continue
        fn = t.get("function") or {}
        spec = {"name": fn.get("name", ""), "inputSchema": {"json": fn.get("parameters") or {"type": "object",
                                                                                            "properties": {}}}}
        if fn.get("description"):
            spec["description"] = fn["description"]
        specs.append({"toolSpec": spec})
    if not specs:
        return None
    config: dict[str, Any] = {"tools": specs}
    choice = body.get("tool_choice")
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        config["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
    return config  # "none" has no Converse spelling: the tools stay declared (history may use them), unforced


def converse_body(body: dict) -> dict:
    system, msgs = to_messages(body["messages"])
    if not msgs and system:  # OpenAI answers a system-only conversation; Converse needs a user turn
        msgs, system = [{"role": "user", "content": system}], []
    out: dict[str, Any] = {"messages": msgs}
    if system:
        out["system"] = system
    inference: dict[str, Any] = {}
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is not None:
        inference["maxTokens"] = limit
    if body.get("temperature") is not None:
        inference["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        inference["topP"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        inference["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if inference:
        out["inferenceConfig"] = inference
    tools = tool_config(body)
    if tools:
        out["toolConfig"] = tools
    return out


def usage(u: dict | None) -> dict:
    u = u or {}
    prompt, completion = u.get("inputTokens", 0), u.get("outputTokens", 0)
    out = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": u.get("totalTokens", prompt + completion)}
    if u.get("cacheReadInputTokens"):
        out["prompt_tokens_details"] = {"cached_tokens": u["cacheReadInputTokens"]}
    return out


def chat_response(call: Call, data: bytes) -> dict:
    resp = json_object(call, data)
    text, reasoning, tool_calls = [], [], []
    for block in ((resp.get("output") or {}).get("message") or {}).get("content") or ():
        if "text" in block:
            text.append(block["text"])
        elif "toolUse" in block:
            tu = block["toolUse"]
            tool_calls.append({"id": tu.get("toolUseId", ""), "type": "function", "function": {
                "name": tu.get("name", ""), "arguments": orjson.dumps(tu.get("input") or {}).decode()}})
        elif "reasoningContent" in block:
            reasoning.append(((block["reasoningContent"] or {}).get("reasoningText") or {}).get("text", ""))
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text else None}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"id": "chatcmpl-" + call.id, "object": "chat.completion", "created": created_at(call),
            "model": model_of(call), "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": STOP.get(resp.get("stopReason"), "stop")}],
            "usage": usage(resp.get("usage"))}


async def chat_stream(call: Call, chunks: AsyncIterator[bytes], stream_error) -> AsyncIterator[dict]:
    """ConverseStream events → chunks; `stream_error(headers, payload)` types an exception event."""
    include_usage = bool(((call.body or {}).get("stream_options") or {}).get("include_usage"))
    base = {"id": "chatcmpl-" + call.id, "object": "chat.completion.chunk", "created": created_at(call),
            "model": model_of(call), "system_fingerprint": None}
    tools: dict[int, int] = {}  # contentBlockIndex → tool_calls index

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    async for headers, payload in messages(chunks):
        if headers.get(":message-type") != "event":
            raise stream_error(headers, payload)
        kind = headers.get(":event-type")
        event = orjson.loads(payload) if payload else {}
        if kind == "messageStart":
            yield chunk({"role": "assistant", "content": ""})
        elif kind == "contentBlockStart":
            start = (event.get("start") or {}).get("toolUse")
            if start is not None:
                n = tools[event.get("contentBlockIndex", 0)] = len(tools)
                yield chunk({"tool_calls": [{"index": n, "id": start.get("toolUseId", ""), "type": "function",
                                             "function": {"name": start.get("name", ""), "arguments": ""}}]})
        elif kind == "contentBlockDelta":
            delta = event.get("delta") or {}
            if "text" in delta:
                yield chunk({"content": delta["text"]})
            elif "toolUse" in delta:
                n = tools.get(event.get("contentBlockIndex", 0), 0)
                yield chunk({"tool_calls": [{"index": n, "function": {"arguments": delta["toolUse"].get("input", "")}}]})
            elif "reasoningContent" in delta and "text" in delta["reasoningContent"]:
                yield chunk({"reasoning_content": delta["reasoningContent"]["text"]})
        elif kind == "messageStop":
            yield chunk({}, STOP.get(event.get("stopReason"), "stop"))
        elif kind == "metadata" and include_usage:
            yield {**base, "choices": [], "usage": usage(event.get("usage"))}
