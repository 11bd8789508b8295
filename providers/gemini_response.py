"""Gemini `GenerateContentResponse` (whole, or as an SSE stream) and Google error envelopes → canonical form."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from kernel.call import Call
from kernel.errors import ContentPolicy, UpstreamAuthError, UpstreamError
from kernel.guards.answers import json_object
from kernel.models import Deployment
from kernel.sse import sse_events
from providers.shared.error_body import classify, error_json, status_message
from providers.shared.replies import created_at, model_of

FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
          "BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter",
          "IMAGE_SAFETY": "content_filter", "LANGUAGE": "stop", "OTHER": "stop", "MALFORMED_FUNCTION_CALL": "stop",
          "FINISH_REASON_UNSPECIFIED": "stop"}
# Google's canonical error statuses whose HTTP code alone would mislabel them.
_AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "ACCESS_TOKEN_EXPIRED"})


def _label(call: Call) -> tuple[str, str | None]:
    d = call.deployment
    return (d.label, d.id) if d is not None else (call.model or "gemini", None)


def blocked(call: Call, feedback: dict) -> ContentPolicy:
    """A prompt Gemini refused to answer (promptFeedback.blockReason) as a typed content-policy error."""
    label, dep_id = _label(call)
    reason = feedback.get("blockReason", "OTHER")
    return ContentPolicy(f"deployment {label}: the prompt was blocked by Gemini's safety filters (blockReason {reason})",
                         deployment=dep_id, status=400)


def usage(meta: dict | None) -> dict:
    meta = meta or {}
    prompt = meta.get("promptTokenCount", 0)
    thoughts = meta.get("thoughtsTokenCount", 0)
    completion = meta.get("candidatesTokenCount", 0) + thoughts
    out = {"prompt_tokens": prompt, "completion_tokens": completion,
           "total_tokens": meta.get("totalTokenCount", prompt + completion)}
    if meta.get("cachedContentTokenCount"):
        out["prompt_tokens_details"] = {"cached_tokens": meta["cachedContentTokenCount"]}
    if thoughts:
        out["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return out


# Gemini 2.5+ signs its reasoning on function calls (`thoughtSignature`) and wants the signature back with
# the call in the next turn; OpenAI clients echo only the tool call id, so the signature rides in it.
SIGNATURE_SEP = "__thought__"


def _tool_call(part: dict, call: Call, n: int) -> dict:
    fc = part["functionCall"]
    call_id = fc.get("id") or f"call_{call.id}_{n}"
    if part.get("thoughtSignature"):
        call_id += SIGNATURE_SEP + part["thoughtSignature"]
    return {"id": call_id, "type": "function",
            "function": {"name": fc.get("name", ""), "arguments": orjson.dumps(fc.get("args") or {}).decode()}}


def _finish(candidate: dict, has_tools: bool) -> str | None:
    reason = candidate.get("finishReason")
    if reason is None:
        return None
    finish = FINISH.get(reason, "stop")
    return "tool_calls" if has_tools and finish == "stop" else finish


def _message(candidate: dict, call: Call) -> dict:
    text, thoughts, tool_calls = [], [], []
    for part in (candidate.get("content") or {}).get("parts") or ():
        if "functionCall" in part:
            tool_calls.append(_tool_call(part, call, len(tool_calls)))
        elif "text" in part:
            (thoughts if part.get("thought") else text).append(part["text"])
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text else None}
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def chat_response(call: Call, data: bytes) -> dict:
    resp = json_object(call, data)
    candidates = resp.get("candidates") or []
    feedback = resp.get("promptFeedback") or {}
    if not candidates and feedback.get("blockReason"):
        raise blocked(call, feedback)
    choices = []
    for i, c in enumerate(candidates):
        message = _message(c, call)
        choices.append({"index": c.get("index", i), "message": message, "logprobs": None,
                        "finish_reason": _finish(c, "tool_calls" in message) or "stop"})
    return {"id": resp.get("responseId") or "chatcmpl-" + call.id, "object": "chat.completion",
            "created": created_at(call), "model": resp.get("modelVersion") or model_of(call),
            "system_fingerprint": None, "choices": choices, "usage": usage(resp.get("usageMetadata"))}


async def chat_stream(call: Call, chunks: AsyncIterator[bytes]) -> AsyncIterator[dict]:
    """Each SSE event is a whole GenerateContentResponse holding the next piece of each candidate."""
    include_usage = bool(((call.body or {}).get("stream_options") or {}).get("include_usage"))
    base: dict | None = None
    started: set[int] = set()
    calls_seen: dict[int, int] = {}
    last_usage = None
    async for _event, data in sse_events(chunks):
        resp = orjson.loads(data)
        if isinstance(resp, dict) and "error" in resp:
            raise google_error(int((resp["error"] or {}).get("code") or 500), {}, data, call.deployment, call)
        feedback = resp.get("promptFeedback") or {}
        candidates = resp.get("candidates") or []
        if not candidates and feedback.get("blockReason"):
            raise blocked(call, feedback)
        if base is None:
            base = {"id": resp.get("responseId") or "chatcmpl-" + call.id, "object": "chat.completion.chunk",
                    "created": created_at(call), "model": resp.get("modelVersion") or model_of(call),
                    "system_fingerprint": None}
        last_usage = resp.get("usageMetadata") or last_usage
        for i, c in enumerate(candidates):
            index = c.get("index", i)
            delta: dict[str, Any] = {}
            if index not in started:
                started.add(index)
                delta["role"] = "assistant"
            text, thoughts, tool_calls = [], [], []
            for part in (c.get("content") or {}).get("parts") or ():
                if "functionCall" in part:
                    n = calls_seen.get(index, 0)
                    calls_seen[index] = n + 1
                    tool_calls.append({"index": n, **_tool_call(part, call, n)})
                elif "text" in part:
                    (thoughts if part.get("thought") else text).append(part["text"])
            if text:
                delta["content"] = "".join(text)
            if thoughts:
                delta["reasoning_content"] = "".join(thoughts)
            if tool_calls:
                delta["tool_calls"] = tool_calls
            if delta:
                yield {**base, "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": None}]}
            finish = _finish(c, calls_seen.get(index, 0) > 0)
            if finish is not None:
                yield {**base, "choices": [{"index": index, "delta": {}, "logprobs": None, "finish_reason": finish}]}
    if base is not None and include_usage:
        yield {**base, "choices": [], "usage": usage(last_usage)}


def google_error(status: int, headers, data: bytes, d: Deployment | None, call: Call | None = None) -> UpstreamError:
    """A Google API error envelope `{"error": {"code", "message", "status", "details"}}` → the typed error."""
    message, code, reasons = None, None, set()
    payload = error_json(data)
    if isinstance(payload, list) and payload:  # streaming endpoints wrap the envelope in a list
        payload = payload[0]
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        err = payload["error"]
        message, code = err.get("message"), err.get("status")
        for detail in err.get("details") or ():
            if isinstance(detail, dict) and detail.get("reason"):
                reasons.add(detail["reason"])
    if not message:
        message = status_message(status, data)
    if d is None:
        label = call.model if call is not None else "gemini"
        return UpstreamError(f"{label}: {message}", status=status if status >= 400 else 502, code=code)
    if reasons & _AUTH_REASONS:
        return UpstreamAuthError(f"deployment {d.label}: {message}", deployment=d.id, status=401, code=code)
    return classify(status, str(message), code, d, headers)

