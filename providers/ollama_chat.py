"""Ollama's native API (`ollama_chat/<model>`): /api/chat with NDJSON streaming, and /api/embed.

Request: OpenAI messages → Ollama messages (text content, base64 `images`, tool calls with object
arguments), sampling parameters → `options` (max_tokens is `num_predict`), response_format → `format`.
`tool_choice` has no Ollama equivalent: "none" withholds the tools, anything else offers them all.
Response: `message` + `done_reason` + eval counts → an OpenAI chat completion. Ollama streams one JSON
object per line and sends no tool-call ids, so ids are derived from the call id and the call's position.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson

from kernel.call import Call
from kernel.errors import UpstreamError
from kernel.guards.answers import json_object
from kernel.models import Deployment
from kernel.plugins import ProviderBase
from kernel.registry import register_provider
from kernel.sse import lines
from kernel.upstream import UpstreamRequest
from providers.shared.content_parts import data_url, image_url, parts
from providers.shared.embeddings import embedding_list
from providers.shared.error_body import classify, error_json, status_message

DEFAULT_BASE = "http://localhost:11434"
# OpenAI parameter → key in Ollama's `options` (github.com/ollama/ollama docs/api.md, "Parameters").
OPTIONS = {"temperature": "temperature", "top_p": "top_p", "seed": "seed", "stop": "stop",
           "max_tokens": "num_predict", "max_completion_tokens": "num_predict",
           "frequency_penalty": "frequency_penalty", "presence_penalty": "presence_penalty"}
# Ollama's own sampling options a client may send at the top level (LiteLLM passes them the same way).
NATIVE_OPTIONS = frozenset({"top_k", "min_p", "typical_p", "num_ctx", "num_keep", "num_gpu", "num_thread",
                            "repeat_penalty", "repeat_last_n", "mirostat", "mirostat_eta", "mirostat_tau"})
SUPPORTED = frozenset(OPTIONS) | {"tools", "tool_choice", "response_format", "encoding_format", "dimensions",
                                  "reasoning_effort"}
FINISH = {"stop": "stop", "length": "length", "load": "stop", "unload": "stop"}


def _text(content) -> tuple[str, list[str]]:
    """OpenAI content (string or parts) → Ollama's text and base64 images."""
    if isinstance(content, str):
        return content, []
    texts, images = [], []
    for part in parts(content):
        kind = part.get("type")
        if kind == "text":
            texts.append(part.get("text", ""))
        elif kind == "image_url":
            url = image_url(part)
            inline = data_url(url)  # Ollama takes raw base64 only; a data URL carries it after the comma
            images.append(inline.data if inline is not None else url)
    return "".join(texts), images


def _message(m: dict) -> dict:
    text, images = _text(m.get("content"))
    out: dict = {"role": "system" if m["role"] == "developer" else m["role"], "content": text}
    if images:
        out["images"] = images
    if m.get("tool_calls"):
        out["tool_calls"] = [{"function": {"name": tc["function"]["name"],
                                           "arguments": _arguments(tc["function"].get("arguments"))}}
                             for tc in m["tool_calls"]]
    if m["role"] == "tool" and m.get("name"):
        out["tool_name"] = m["name"]
    return out


def _arguments(value) -> dict:
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value) if value else {}
        except orjson.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return value or {}


def _format(response_format: dict | None):
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        return (response_format.get("json_schema") or {}).get("schema") or "json"
    return None


def chat_body(call: Call, d: Deployment) -> dict:
    body = {**d.defaults, **call.body} if d.defaults else call.body
    out: dict = {"model": d.upstream_model, "messages": [_message(m) for m in body["messages"]],
                 "stream": bool(call.stream)}
    options = {OPTIONS.get(k, k): v for k, v in body.items()
               if (k in OPTIONS or k in NATIVE_OPTIONS) and v is not None}
    if options:
        out["options"] = options
    # Ollama has no tool_choice: "none" is honoured by offering no tools; any other choice offers them all.
    if body.get("tools") and body.get("tool_choice") != "none":
        out["tools"] = body["tools"]  # Ollama takes OpenAI's {"type": "function", "function": {...}} as is
    fmt = _format(body.get("response_format"))
    if fmt is not None:
        out["format"] = fmt
    if body.get("reasoning_effort") is not None:
        out["think"] = body["reasoning_effort"] != "none"
    for key in ("keep_alive", "think"):  # Ollama's own fields, passed on when a client sends them
        if key in body:
            out[key] = body[key]
    return out


def build_request(call: Call, d: Deployment) -> UpstreamRequest:
    base = d.api_base or DEFAULT_BASE
    headers = {"content-type": "application/json"}
    if d.api_key:  # Ollama itself takes none; a proxy in front of it may
        headers["authorization"] = "Bearer " + d.api_key
    if call.endpoint == "embeddings":
        body = {"model": d.upstream_model, "input": call.body["input"]}
        if call.body.get("dimensions") is not None:
            body["dimensions"] = call.body["dimensions"]
        return UpstreamRequest("POST", base + "/api/embed", headers, content=orjson.dumps(body))
    return UpstreamRequest("POST", base + "/api/chat", headers, content=orjson.dumps(chat_body(call, d)),
                           stream=call.stream)


def _tool_calls(call: Call, calls: list, start: int = 0) -> list[dict]:
    return [{"id": f"call_{call.id[:12]}_{start + i}", "type": "function",
             "function": {"name": c["function"]["name"],
                          "arguments": orjson.dumps(c["function"].get("arguments") or {}).decode()}}
            for i, c in enumerate(calls)]


def _usage(data: dict) -> dict:
    prompt, completion = data.get("prompt_eval_count") or 0, data.get("eval_count") or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _created(data: dict) -> int:
    # created_at is RFC 3339 ("2023-12-12T14:13:43.416799Z", or nanoseconds with an offset).
    stamp = data.get("created_at")
    if not stamp:
        return 0
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return 0
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


def parse_response(call: Call, data: bytes) -> dict:
    payload = json_object(call, data)
    if call.endpoint == "embeddings":
        return _embeddings(call, payload)
    message = payload.get("message") or {}
    out_message: dict = {"role": "assistant", "content": message.get("content") or ""}
    if message.get("thinking"):
        out_message["reasoning_content"] = message["thinking"]
    finish = FINISH.get(payload.get("done_reason") or "stop", "stop")
    if message.get("tool_calls"):
        out_message["tool_calls"] = _tool_calls(call, message["tool_calls"])
        out_message["content"] = out_message["content"] or None
        finish = "tool_calls"
    return {"id": "chatcmpl-" + call.id, "object": "chat.completion", "created": _created(payload),
            "model": payload.get("model", ""),
            "choices": [{"index": 0, "message": out_message, "logprobs": None, "finish_reason": finish}],
            "usage": _usage(payload)}


def _embeddings(call: Call, payload: dict) -> dict:
    return embedding_list(payload.get("embeddings") or [], payload.get("model", ""), payload.get("prompt_eval_count") or 0,
                          call.body.get("encoding_format"))


async def parse_stream(call: Call, chunks: AsyncIterator[bytes]) -> AsyncIterator[dict]:
    """NDJSON lines → OpenAI chunks: a role chunk first, content deltas, then finish_reason and usage."""
    head = {"id": "chatcmpl-" + call.id, "object": "chat.completion.chunk", "created": 0, "model": ""}
    started, tools_seen = False, 0
    async for line in lines(chunks):
        if not line.strip():
            continue
        for out in _stream_line(call, orjson.loads(line), head, started, tools_seen):
            started = True
            tools_seen += len(out["choices"][0]["delta"].get("tool_calls") or ()) if out["choices"] else 0
            yield out


def _stream_line(call: Call, data: dict, head: dict, started: bool, tools_seen: int) -> list[dict]:
    if "error" in data:  # Ollama reports a failure mid-stream as {"error": "..."}
        raise UpstreamError(f"ollama stream failed: {data['error']}", deployment=None)
    if not started:
        head["created"], head["model"] = _created(data), data.get("model", "")
    out = []
    message = data.get("message") or {}
    delta: dict = {}
    if not started:
        delta["role"] = "assistant"
    if message.get("content"):
        delta["content"] = message["content"]
    if message.get("thinking"):
        delta["reasoning_content"] = message["thinking"]
    if message.get("tool_calls"):
        calls = _tool_calls(call, message["tool_calls"], tools_seen)
        delta["tool_calls"] = [{"index": tools_seen + i, **c} for i, c in enumerate(calls)]
    if delta or not started:
        if "role" in delta and "content" not in delta and "tool_calls" not in delta:
            delta["content"] = ""
        out.append({**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]})
    if data.get("done"):
        finish = "tool_calls" if tools_seen or delta.get("tool_calls") else \
            FINISH.get(data.get("done_reason") or "stop", "stop")
        out.append({**head, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}],
                    "usage": _usage(data)})
    return out


def parse_error(status: int, headers, data: bytes, d: Deployment) -> UpstreamError:
    """Ollama's errors are {"error": "<text>"}."""
    message = None
    payload = error_json(data)
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        message = payload["error"]
    if not message:
        message = status_message(status, data, "ollama")
    return classify(status, message, None, d, headers)


class OllamaChat(ProviderBase):
    """Registered as provider `ollama_chat`; the translators are the module's functions."""

    name = "ollama_chat"
    wire = "ollama"
    endpoints = frozenset({"chat", "embeddings"})
    supported_params = SUPPORTED
    base_env = "OLLAMA_API_BASE"
    build_request = staticmethod(build_request)
    parse_response = staticmethod(parse_response)
    parse_stream = staticmethod(parse_stream)
    parse_error = staticmethod(parse_error)


OLLAMA_CHAT = OllamaChat()
register_provider("ollama_chat", OLLAMA_CHAT)
