"""Canonical chat completion → an OpenAI Responses object: the envelope, its output items and its usage."""

from __future__ import annotations

import os
import time
from typing import Any

# Canonical finish_reason → the Responses API's incomplete_details.reason (any other: completed).
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id() -> str:
    """The random part shared by a response's ids (resp_…, msg_…, fc_…, rs_…)."""
    return os.urandom(12).hex()


def responses_usage(u: dict | None) -> dict:
    """Canonical (OpenAI chat) usage → the Responses API's usage; cached tokens stay inside input_tokens."""
    u = u or {}
    prompt, completion = u.get("prompt_tokens") or 0, u.get("completion_tokens") or 0
    cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (u.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return {"input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": u.get("cache_creation_input_tokens") or 0},
            "output_tokens": completion, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": u.get("total_tokens") or prompt + completion}


def envelope(request: dict | None, rid: str, model: str | None, status: str, output: list, usage: dict | None,
             created: int | None = None, finish: str | None = None, error: dict | None = None) -> dict:
    """The Response object around `output`, echoing the request's settings as OpenAI does."""
    req = request or {}
    reason = INCOMPLETE.get(finish) if status == "incomplete" else None
    reasoning = req.get("reasoning") if isinstance(req.get("reasoning"), dict) else {}
    return {
        "id": "resp_" + rid, "object": "response", "created_at": created or int(time.time()), "status": status,
        "background": False, "error": error, "incomplete_details": {"reason": reason} if reason else None,
        "instructions": req.get("instructions"), "max_output_tokens": req.get("max_output_tokens"),
        "metadata": req.get("metadata") or {}, "model": model or req.get("model"), "output": output,
        "parallel_tool_calls": req.get("parallel_tool_calls", True), "previous_response_id": None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": False, "temperature": req.get("temperature"), "text": req.get("text") or {"format": {"type": "text"}},
        "tool_choice": req.get("tool_choice", "auto"), "tools": req.get("tools") or [], "top_p": req.get("top_p"),
        "truncation": "disabled", "usage": usage, "user": req.get("user"),
    }


def status_of(finish: str | None) -> str:
    return "incomplete" if finish in INCOMPLETE else "completed"


def text_part(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(rid: str, parts: list[dict], status: str) -> dict:
    return {"type": "message", "id": "msg_" + rid, "status": status, "role": "assistant", "content": parts}


def reasoning_item(rid: str, text: str | None) -> dict:
    # The canonical reasoning_content (Claude's thinking, Gemini's thoughts) is what the model chose to show of
    # its reasoning: the Responses API's reasoning summary.
    return {"type": "reasoning", "id": "rs_" + rid, "summary": [{"type": "summary_text", "text": text}] if text else []}


def call_item(rid: str, n: int, call_id: str | None, name: str, arguments: str, status: str) -> dict:
    return {"type": "function_call", "id": f"fc_{rid}_{n}", "call_id": call_id or f"call_{rid}_{n}", "name": name,
            "arguments": arguments, "status": status}


def _reasoning_text(message: dict) -> str | None:
    text = message.get("reasoning_content")
    if not text and message.get("thinking_blocks"):
        text = "".join(b.get("thinking") or "" for b in message["thinking_blocks"] if isinstance(b, dict))
    return text or None


def output_items(message: dict, rid: str, status: str) -> list[dict]:
    """A canonical assistant message → its Responses output items: reasoning, message, then function calls."""
    items: list[dict] = []
    reasoning = _reasoning_text(message)
    if reasoning:
        items.append(reasoning_item(rid, reasoning))
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    parts = [text_part(content)] if content else []
    if message.get("refusal"):
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    if parts:
        items.append(message_item(rid, parts, status))
    for n, tc in enumerate(message.get("tool_calls") or ()):
        fn = tc.get("function") or {}
        items.append(call_item(rid, n, tc.get("id"), fn.get("name") or "", fn.get("arguments") or "{}", "completed"))
    return items


def to_response(body: Any, request: dict | None, model: str | None) -> dict:
    """A canonical chat completion → a Responses object."""
    body = body if isinstance(body, dict) else {}
    choice = (body.get("choices") or [{}])[0]
    finish = choice.get("finish_reason")
    status = status_of(finish)
    rid = new_id()
    output = output_items(choice.get("message") or {}, rid, status)
    return envelope(request, rid, body.get("model") or model, status, output, responses_usage(body.get("usage")),
                    created=body.get("created"), finish=finish)
