"""Cohere's v2 API (`cohere/<model>`): /v2/chat (SSE stream of typed events) and /v2/embed.

Cohere v2 takes OpenAI-shaped messages and tools, so the request is mostly renames (top_p → p,
stop → stop_sequences, tool_choice → REQUIRED/NONE); the response nests text in content parts and
reports usage under `usage.tokens`. Cohere sends no `created` time, so canonical responses carry 0.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from kernel.call import Call
from kernel.errors import UpstreamAuthError, UpstreamError
from kernel.guards.answers import json_object
from kernel.models import Deployment
from kernel.plugins import ProviderBase
from kernel.registry import register_provider
from kernel.sse import sse_events
from kernel.upstream import UpstreamRequest
from providers.openai_errors import parse_openai_error
from providers.shared.embeddings import embedding_list, embedding_texts
from providers.shared.replies import model_of

DEFAULT_BASE = "https://api.cohere.com"
# OpenAI parameter → Cohere v2 chat field (docs.cohere.com/reference/chat).
RENAMES = {"temperature": "temperature", "top_p": "p", "max_tokens": "max_tokens", "max_completion_tokens": "max_tokens",
           "seed": "seed", "frequency_penalty": "frequency_penalty", "presence_penalty": "presence_penalty",
           "logprobs": "logprobs", "tools": "tools"}
SUPPORTED = frozenset(RENAMES) | {"stop", "response_format", "tool_choice", "encoding_format", "dimensions"}
# Cohere-only chat fields a client may send; passed on as they are.
NATIVE = ("documents", "citation_options", "safety_mode", "k", "strict_tools", "thinking", "priority")
FINISH = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length", "TOOL_CALL": "tool_calls",
          "ERROR_TOXIC": "content_filter", "ERROR": "stop", "TIMEOUT": "stop"}


def _message(m: dict) -> dict:
    role = "system" if m["role"] == "developer" else m["role"]
    out: dict = {"role": role}
    content = m.get("content")
    if content is not None:
        out["content"] = content  # a string or OpenAI text/image_url parts, which v2 accepts as they are
    if role == "assistant" and m.get("tool_calls"):
        out["tool_calls"] = m["tool_calls"]
        if not content:
            out.pop("content", None)
    if role == "tool":
        out["tool_call_id"] = m.get("tool_call_id")
        out["content"] = content if content is not None else ""
    return out


def _tool_choice(choice):
    if choice == "required" or isinstance(choice, dict):
        return "REQUIRED"  # v2 cannot name one function; REQUIRED is the nearest promise
    if choice == "none":
        return "NONE"
    return None


def chat_body(call: Call, d: Deployment) -> dict:
    body = {**d.defaults, **call.body} if d.defaults else call.body
    out: dict = {"model": d.upstream_model, "messages": [_message(m) for m in body["messages"]]}
    for key, value in body.items():
        if value is None:
            continue
        if key in RENAMES:
            out[RENAMES[key]] = value
        elif key in NATIVE:
            out[key] = value
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else stop
    choice = _tool_choice(body.get("tool_choice"))
    if choice:
        out["tool_choice"] = choice
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        schema = (fmt.get("json_schema") or {}).get("schema")
        out["response_format"] = {"type": "json_object", **({"json_schema": schema} if schema else {})}
    if call.stream:
        out["stream"] = True
    return out


def build_request(call: Call, d: Deployment) -> UpstreamRequest:
    base = d.api_base or DEFAULT_BASE
    headers = {"content-type": "application/json", "accept": "application/json"}
    if d.api_key:
        headers["authorization"] = "Bearer " + d.api_key
    if call.endpoint == "embeddings":
        body = {"model": d.upstream_model, "texts": embedding_texts(call.body),
                "input_type": call.body.get("input_type", "search_document"), "embedding_types": ["float"]}
        if call.body.get("dimensions") is not None:
            body["output_dimension"] = call.body["dimensions"]
        return UpstreamRequest("POST", base + "/v2/embed", headers, content=orjson.dumps(body))
    return UpstreamRequest("POST", base + "/v2/chat", headers, content=orjson.dumps(chat_body(call, d)),
                           stream=call.stream)


def _usage(usage: dict | None) -> dict:
    usage = usage or {}
    counts = usage.get("tokens") or usage.get("billed_units") or {}
    prompt, completion = int(counts.get("input_tokens") or 0), int(counts.get("output_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def parse_response(call: Call, data: bytes) -> dict:
    payload = json_object(call, data)
    if call.endpoint == "embeddings":
        vectors = (payload.get("embeddings") or {}).get("float") or []
        tokens = int(((payload.get("meta") or {}).get("billed_units") or {}).get("input_tokens") or 0)
        return embedding_list(vectors, model_of(call), tokens, (call.body or {}).get("encoding_format"))
    msg = payload.get("message") or {}
    texts, thoughts = [], []
    for part in msg.get("content") or ():
        if part.get("type") == "text":
            texts.append(part.get("text", ""))
        elif part.get("type") == "thinking":
            thoughts.append(part.get("thinking", ""))
    message: dict = {"role": "assistant", "content": "".join(texts) if texts or not msg.get("tool_calls") else None}
    if thoughts or msg.get("tool_plan"):
        message["reasoning_content"] = "".join(thoughts) or msg.get("tool_plan")
    if msg.get("tool_calls"):
        message["tool_calls"] = [{"id": tc.get("id"), "type": "function",
                                  "function": {"name": tc["function"]["name"],
                                               "arguments": tc["function"].get("arguments") or "{}"}}
                                 for tc in msg["tool_calls"]]
    return {"id": payload.get("id", ""), "object": "chat.completion", "created": 0,
            "model": model_of(call),
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": FINISH.get(payload.get("finish_reason"), "stop")}],
            "usage": _usage(payload.get("usage"))}


async def parse_stream(call: Call, chunks: AsyncIterator[bytes]) -> AsyncIterator[dict]:
    """Cohere's typed events → OpenAI chunks; content-start/end, citations and debug carry nothing to forward."""
    head = {"id": "", "object": "chat.completion.chunk", "created": 0,
            "model": model_of(call)}

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    async for event, data in sse_events(chunks):
        payload = orjson.loads(data)
        kind = payload.get("type") or event
        delta = payload.get("delta") or {}
        message = delta.get("message") or {}
        if kind == "message-start":
            head["id"] = payload.get("id") or ""
            yield chunk({"role": "assistant", "content": ""})
        elif kind == "content-delta":
            content = message.get("content") or {}
            if content.get("text"):
                yield chunk({"content": content["text"]})
            elif content.get("thinking"):
                yield chunk({"reasoning_content": content["thinking"]})
        elif kind == "tool-plan-delta":
            if message.get("tool_plan"):
                yield chunk({"reasoning_content": message["tool_plan"]})
        elif kind == "tool-call-start":
            tc = message.get("tool_calls") or {}
            fn = tc.get("function") or {}
            yield chunk({"tool_calls": [{"index": payload.get("index", 0), "id": tc.get("id"), "type": "function",
                                         "function": {"name": fn.get("name"), "arguments": fn.get("arguments") or ""}}]})
        elif kind == "tool-call-delta":
            args = ((message.get("tool_calls") or {}).get("function") or {}).get("arguments")
            if args:
                yield chunk({"tool_calls": [{"index": payload.get("index", 0), "function": {"arguments": args}}]})
        elif kind == "message-end":
            out = chunk({}, FINISH.get(delta.get("finish_reason"), "stop"))
            out["usage"] = _usage(delta.get("usage"))
            yield out
            return


def parse_error(status: int, headers, data: bytes, d: Deployment) -> UpstreamError:
    """Cohere's errors are {"id", "message"}; 498 is its "invalid token", which is an auth failure."""
    err = parse_openai_error(401 if status == 498 else status, headers, data, d)
    if status == 498 and not isinstance(err, UpstreamAuthError):
        err = UpstreamAuthError(err.message, deployment=d.id)
    return err


class Cohere(ProviderBase):
    """Registered as provider `cohere`; the translators are the module's functions."""

    name = "cohere"
    wire = "cohere"
    endpoints = frozenset({"chat", "embeddings"})
    supported_params = SUPPORTED
    key_env = "COHERE_API_KEY"
    base_env = "COHERE_API_BASE"
    build_request = staticmethod(build_request)
    parse_response = staticmethod(parse_response)
    parse_stream = staticmethod(parse_stream)
    parse_error = staticmethod(parse_error)


COHERE = Cohere()
register_provider("cohere", COHERE)
