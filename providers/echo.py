"""The built-in `echo/...` provider: answers locally, deterministically, with no key and no network.

It exists so `relaykit` with no config is a working gateway to try SDKs against: chat (streamed or not,
tools included), completions, embeddings and moderations all answer in OpenAI's exact shapes.
"""

from __future__ import annotations

import hashlib
import math
import struct
import time
from collections.abc import AsyncIterator

import orjson

from kernel.call import Call, Reply
from kernel.models import Deployment
from kernel.plugins import ProviderBase
from kernel.registry import register_provider
from providers.shared.content_parts import text_of

MODERATION_CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
                         "illicit/violent", "self-harm", "self-harm/instructions", "self-harm/intent", "sexual",
                         "sexual/minors", "violence", "violence/graphic")


def _tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


def _sample(schema: dict, text: str, depth: int = 0):
    """A value that satisfies a simple JSON Schema, so tool-call arguments parse on the client."""
    if depth > 32:
        return {}  # a pathologically deep schema: nobody needs an example that deep
    kind = schema.get("type")
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}  # a schema is the client's JSON: any shape may arrive
        return {k: _sample(v if isinstance(v, dict) else {}, text, depth + 1) for k, v in props.items()}
    if kind == "array":
        return []
    if kind == "integer":
        return 0
    if kind == "number":
        return 0.0
    if kind == "boolean":
        return False
    return text


def _choose_tool(body: dict) -> dict | None:
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") == "function"]
    choice = body.get("tool_choice", "auto")
    if not tools or choice == "none":
        return None
    messages = body["messages"]
    if messages and messages[-1].get("role") == "tool":
        return None  # the tool already answered: reply in words
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return next((t for t in tools if t["function"].get("name") == name), tools[0])
    return tools[0]


def chat_completion(body: dict, d: Deployment, call_id: str) -> dict:
    messages = body["messages"] or [{}]  # a conversation of thinking blocks alone translates to none
    last = text_of(messages[-1].get("content"), " ")
    prompt_tokens = sum(_tokens(text_of(m.get("content"), " ")) for m in messages)
    tool = _choose_tool(body)
    if tool is not None:
        fn = tool["function"]
        args = orjson.dumps(_sample(fn.get("parameters") or {}, last)).decode()
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_" + call_id[:24], "type": "function", "function": {"name": fn["name"], "arguments": args}}]}
        finish, completion_tokens = "tool_calls", _tokens(args)
    else:
        if messages[-1].get("role") == "tool":
            last = "tool result: " + last
        message = {"role": "assistant", "content": last, "refusal": None}
        finish, completion_tokens = "stop", _tokens(last)
    return {
        "id": "chatcmpl-" + call_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": d.upstream_model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


async def chat_chunks(full: dict, include_usage: bool) -> AsyncIterator[dict]:
    """The same answer as `chat_completion`, cut into the chunk sequence OpenAI streams."""
    base = {"id": full["id"], "object": "chat.completion.chunk", "created": full["created"],
            "model": full["model"], "system_fingerprint": None}
    message = full["choices"][0]["message"]

    def chunk(delta: dict, finish=None) -> dict:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    if message.get("tool_calls"):
        call = message["tool_calls"][0]
        yield chunk({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                     "function": {"name": call["function"]["name"], "arguments": ""}}]})
        yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": call["function"]["arguments"]}}]})
    else:
        words = (message["content"] or "").split(" ")
        for i, word in enumerate(words):
            yield chunk({"content": word if i == 0 else " " + word})
    yield chunk({}, full["choices"][0]["finish_reason"])
    if include_usage:
        yield {**base, "choices": [], "usage": full["usage"]}


def embedding(text: str, dims: int) -> list[float]:
    """A deterministic unit vector derived from the text (same text, same vector)."""
    out: list[float] = []
    counter = 0
    while len(out) < dims:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        out.extend(v / 2**31 - 1.0 for v in struct.unpack("<8I", digest))
        counter += 1
    vec = out[:dims]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def embeddings(body: dict, d: Deployment) -> dict:
    inputs = body["input"]
    items = [inputs] if isinstance(inputs, (str, int)) or (isinstance(inputs, list) and inputs
                                                             and isinstance(inputs[0], int)) else list(inputs)
    dims = int(body.get("dimensions") or 16)
    texts = [i if isinstance(i, str) else orjson.dumps(i).decode() for i in items]
    tokens = sum(_tokens(t) for t in texts)
    return {"object": "list", "model": d.upstream_model,
            "data": [{"object": "embedding", "index": i, "embedding": embedding(t, dims)} for i, t in enumerate(texts)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def moderation(body: dict, d: Deployment, call_id: str) -> dict:
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    result = {"flagged": False, "categories": {c: False for c in MODERATION_CATEGORIES},
              "category_scores": {c: 0.0 for c in MODERATION_CATEGORIES}}
    return {"id": "modr-" + call_id, "model": d.upstream_model, "results": [result for _ in inputs]}


def completion(body: dict, d: Deployment, call_id: str) -> dict:
    prompt = body["prompt"]
    text = prompt if isinstance(prompt, str) else " ".join(map(str, prompt))
    tokens = _tokens(text)
    return {"id": "cmpl-" + call_id, "object": "text_completion", "created": int(time.time()),
            "model": d.upstream_model,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": tokens, "completion_tokens": tokens, "total_tokens": 2 * tokens}}


async def completion_chunks(full: dict) -> AsyncIterator[dict]:
    for i, word in enumerate(full["choices"][0]["text"].split(" ")):
        yield {**full, "choices": [{"index": 0, "text": word if i == 0 else " " + word, "logprobs": None,
                                    "finish_reason": None}], "usage": None}
    yield {**full, "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": "stop"}], "usage": None}


class Echo(ProviderBase):
    """Registered as provider `echo`; `local` tells the provider-call middleware to ask it directly."""

    name = "echo"
    local = True
    endpoints = frozenset({"chat", "completions", "embeddings", "moderations"})

    def answer(self, call: Call, d: Deployment) -> Reply:
        body = call.body
        if call.endpoint == "chat":
            full = chat_completion(body, d, call.id)
            if call.stream:
                usage = bool((body.get("stream_options") or {}).get("include_usage"))
                return Reply(stream=chat_chunks(full, usage))
            return Reply(body=full)
        if call.endpoint == "completions":
            full = completion(body, d, call.id)
            return Reply(stream=completion_chunks(full)) if call.stream else Reply(body=full)
        if call.endpoint == "embeddings":
            return Reply(body=embeddings(body, d))
        return Reply(body=moderation(body, d, call.id))


register_provider("echo", Echo())
