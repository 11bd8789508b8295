"""Anthropic Messages responses and SSE streams → canonical OpenAI chat completions and chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from kernel.call import Call
from kernel.guards.answers import checked, invalid
from kernel.sse import sse_events
from providers.anthropic_request import JSON_TOOL, wants_json_tool
from providers.shared.replies import created_at

FINISH = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
          "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter"}


def usage_of(u: dict | None) -> dict:
    """Anthropic usage → OpenAI usage; Anthropic counts cached input apart, OpenAI counts it in prompt_tokens."""
    u = u or {}
    cache_read = u.get("cache_read_input_tokens") or 0
    cache_write = u.get("cache_creation_input_tokens") or 0
    prompt = (u.get("input_tokens") or 0) + cache_read + cache_write
    completion = u.get("output_tokens") or 0
    out = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
           "prompt_tokens_details": {"cached_tokens": cache_read}}
    if cache_write:
        out["cache_creation_input_tokens"] = cache_write
    return out


def message_of(content: list, json_mode: bool) -> tuple[dict, bool]:
    """Anthropic content blocks → an OpenAI assistant message; also says whether the JSON tool answered."""
    texts, calls, thinking, blocks = [], [], [], []
    answered_json = False
    for block in content:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            if json_mode and block.get("name") == JSON_TOOL:
                texts = [orjson.dumps(block.get("input") or {}).decode()]  # the JSON is the whole answer
                answered_json = True
                continue
            calls.append({"id": block.get("id"), "type": "function",
                          "function": {"name": block.get("name"),
                                       "arguments": orjson.dumps(block.get("input") or {}).decode()}})
        elif kind in ("thinking", "redacted_thinking"):
            thinking.append(block.get("thinking", ""))
            blocks.append(block)
    message: dict = {"role": "assistant", "content": "".join(texts) if texts else None, "refusal": None}
    if thinking:
        message["reasoning_content"] = "".join(thinking)
        message["thinking_blocks"] = blocks  # with signatures, so the next turn can hand them back
    if calls:
        message["tool_calls"] = calls
    return message, answered_json


def parse_response(call: Call, data: bytes) -> dict:
    msg = checked(call, data, "anthropic")  # a JSON object with "type": "message" and a "content" list
    message, answered_json = message_of(msg.get("content") or [], wants_json_tool(call.body))
    finish = "stop" if answered_json else FINISH.get(msg.get("stop_reason"), "stop")
    return {
        "id": msg.get("id"),
        "object": "chat.completion",
        "created": created_at(call),
        "model": msg.get("model"),
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage_of(msg.get("usage")),
    }


async def parse_stream(call: Call, chunks: AsyncIterator[bytes], error_of) -> AsyncIterator[dict]:
    """Anthropic's event stream → OpenAI chunks; `error_of(payload)` turns an `error` event into a typed error."""
    body = call.body if isinstance(call.body, dict) else {}
    json_mode = wants_json_tool(body)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base: dict = {}
    usage: dict = {}
    tools = 0  # OpenAI numbers tool calls from 0, Anthropic numbers every content block
    block_tool: dict[int, int | None] = {}  # Anthropic block index → tool-call index (None: the JSON tool)
    answered_json = False

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    async for event, data in sse_events(chunks):
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise invalid(call, "a stream event whose data is not valid JSON") from None
        if type(payload) is not dict:
            raise invalid(call, "a stream event whose data is not a JSON object")
        kind = payload.get("type") or event
        if kind == "message_start":
            msg = payload.get("message") or {}
            base = {"id": msg.get("id"), "object": "chat.completion.chunk", "created": created_at(call),
                    "model": msg.get("model"), "system_fingerprint": None}
            usage = dict(msg.get("usage") or {})
            yield chunk({"role": "assistant", "content": ""})
        elif kind == "content_block_start":
            block = payload.get("content_block") or {}
            index = payload.get("index", 0)
            if block.get("type") == "tool_use":
                if json_mode and block.get("name") == JSON_TOOL:
                    block_tool[index] = None
                    answered_json = True
                    continue
                block_tool[index] = tools
                yield chunk({"tool_calls": [{"index": tools, "id": block.get("id"), "type": "function",
                                             "function": {"name": block.get("name"), "arguments": ""}}]})
                tools += 1
            elif block.get("type") == "text" and block.get("text"):
                yield chunk({"content": block["text"]})
        elif kind == "content_block_delta":
            delta = payload.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                yield chunk({"content": delta.get("text", "")})
            elif dtype == "input_json_delta":
                part = delta.get("partial_json", "")
                if not part:
                    continue
                tool = block_tool.get(payload.get("index", 0))
                if tool is None:
                    yield chunk({"content": part})
                else:
                    yield chunk({"tool_calls": [{"index": tool, "function": {"arguments": part}}]})
            elif dtype == "thinking_delta":
                yield chunk({"reasoning_content": delta.get("thinking", "")})
        elif kind == "message_delta":
            usage.update({k: v for k, v in (payload.get("usage") or {}).items() if v is not None})
            reason = (payload.get("delta") or {}).get("stop_reason")
            finish = "stop" if answered_json else FINISH.get(reason, "stop")
            yield chunk({}, finish)
        elif kind == "message_stop":
            if include_usage:
                yield {**base, "choices": [], "usage": usage_of(usage)}
            return
        elif kind == "error":
            raise error_of(payload)
        # ping, content_block_stop and unknown future events carry nothing for an OpenAI client


STATUS_OF_TYPE = {"invalid_request_error": 400, "authentication_error": 401, "billing_error": 402,
                  "permission_error": 403, "not_found_error": 404, "request_too_large": 413,
                  "rate_limit_error": 429, "api_error": 500, "timeout_error": 504, "overloaded_error": 529}
