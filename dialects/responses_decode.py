"""OpenAI Responses request → canonical chat body, checked as the Responses API would (400s name the field).

What only OpenAI can serve (stored state, built-in tools, item references, files by id, parameters relaykit
does not translate) is not refused here: the client may be talking to an OpenAI deployment, which takes the
request as it is. It is recorded as the error a translating provider raises (`Call.native_only`), so the
router's choice decides.
"""

from __future__ import annotations

from typing import Any

from dialects.openai_check import json_type
from kernel.errors import ClientError

# Fields translated into the canonical body (or into the Call).
TRANSLATED = frozenset({
    "model", "input", "instructions", "tools", "tool_choice", "max_output_tokens", "temperature", "top_p",
    "reasoning", "text", "metadata", "user", "parallel_tool_calls", "stream",
})
# Fields with no meaning once the request is a chat completion elsewhere: accepted and left out (docs/responses.md).
IGNORED = frozenset({"include", "truncation", "service_tier", "prompt_cache_key", "prompt_cache_retention",
                     "safety_identifier", "stream_options", "max_tool_calls", "top_logprobs"})
# Fields that need OpenAI's own state or machinery: what a translating provider answers for them.
STATEFUL = {
    "previous_response_id": "continuing a stored response (previous_response_id)",
    "conversation": "conversations (conversation)",
    "prompt": "stored prompt templates (prompt)",
    "background": "background responses (background: true)",
}
ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}
# Reasoning efforts the canonical reasoning_effort takes; the Responses API's extra top level maps onto "high".
EFFORTS = {"none": "none", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high", "xhigh": "high"}
_NOT_HERE = "is only served by OpenAI deployments (relaykit passes it on to them as it is); this model's " \
            "deployment is reached through translation"


def bad(where: str, problem: str) -> ClientError:
    return ClientError(f"{where}: {problem}", param=where)


def _got(value: Any) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) and len(text := repr(value)) <= 40:
        return text
    return json_type(value)


class Decoded:
    """The canonical body being built, and the first thing only an OpenAI deployment could serve."""

    __slots__ = ("body", "native_only")

    def __init__(self) -> None:
        self.body: dict = {}
        self.native_only: ClientError | None = None

    def openai_only(self, where: str, what: str) -> None:
        if self.native_only is None:
            self.native_only = ClientError(f"{where}: {what} {_NOT_HERE}", param=where)


def _string(obj: dict, key: str, where: str, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise bad(f"{where}.{key}", "field required (a non-empty string)" if value in (None, "")
                  else f"must be a string, got {_got(value)}")
    return value


def _input_part(part: Any, where: str, out: Decoded) -> dict | None:
    """One content part of an input message → a chat content part (None: left out)."""
    if not isinstance(part, dict):
        raise bad(where, f"each content part must be an object, got {_got(part)}")
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        text = part.get("text")
        if not isinstance(text, str):
            raise bad(f"{where}.text", "field required (a string)")
        return {"type": "text", "text": text}
    if kind == "refusal":
        return {"type": "text", "text": _string(part, "refusal", where) or ""}
    if kind == "input_image":
        url = _string(part, "image_url", where)
        if url is None:
            if part.get("file_id") is not None:
                out.openai_only(f"{where}.file_id", "an image given by file id")
                return None
            raise bad(f"{where}.image_url", "field required (a URL or a data: URL), or file_id")
        image: dict = {"url": url}
        detail = _string(part, "detail", where)
        if detail and detail != "auto":
            image["detail"] = detail
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        data = _string(part, "file_data", where)
        if data is None:
            if part.get("file_id") is not None or part.get("file_url") is not None:
                out.openai_only(f"{where}.{'file_id' if part.get('file_id') is not None else 'file_url'}",
                                "a file given by id or URL")
                return None
            raise bad(f"{where}.file_data", "field required (a data: URL), or file_id / file_url")
        return {"type": "file", "file": {"file_data": data, "filename": _string(part, "filename", where) or "file"}}
    raise bad(f"{where}.type", f"unknown content part type {_got(kind)}")


def _content(content: Any, where: str, out: Decoded) -> str | list[dict]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad(where, f"must be a string or an array of content parts, got {_got(content)}")
    parts = [p for i, c in enumerate(content) if (p := _input_part(c, f"{where}[{i}]", out)) is not None]
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _message(item: dict, where: str, out: Decoded, messages: list[dict]) -> None:
    role = item.get("role")
    if role not in ROLES:
        raise bad(f"{where}.role", "field required" if role is None else
                  f"expected user, assistant, system or developer, got {_got(role)}")
    if "content" not in item:
        raise bad(f"{where}.content", "field required")
    messages.append({"role": ROLES[role], "content": _content(item["content"], f"{where}.content", out)})


def _function_call(item: dict, where: str, messages: list[dict], calls: set[str]) -> None:
    call_id = _string(item, "call_id", where, required=True)
    name = _string(item, "name", where, required=True)
    arguments = item.get("arguments")
    if not isinstance(arguments, str):
        raise bad(f"{where}.arguments", "field required (a JSON string)")
    calls.add(call_id)
    tool_call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    last = messages[-1] if messages else None
    # Calls made in one turn follow that turn's message (or each other): one assistant message holds them all.
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(tool_call)
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [tool_call]})


def _function_output(item: dict, where: str, out: Decoded, messages: list[dict], calls: set[str]) -> None:
    call_id = _string(item, "call_id", where, required=True)
    if "output" not in item:
        raise bad(f"{where}.output", "field required (a string or an array of content parts)")
    content = _content(item["output"], f"{where}.output", out)
    if call_id not in calls:
        # The call it answers lives in a stored response: only OpenAI has it.
        out.openai_only(f"{where}.call_id", f"a function_call_output for {call_id!r} with no function_call "
                                            "item before it in input")
    messages.append({"role": "tool", "tool_call_id": call_id, "content": content})


def convert_input(value: Any, out: Decoded, messages: list[dict]) -> None:
    if isinstance(value, str):
        messages.append({"role": "user", "content": value})
        return
    if not isinstance(value, list):
        raise bad("input", f"must be a string or an array of input items, got {_got(value)}")
    calls: set[str] = set()
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise bad(where, f"each input item must be an object, got {_got(item)}")
        kind = item.get("type")
        if kind is None or kind == "message":
            _message(item, where, out, messages)
        elif kind == "function_call":
            _function_call(item, where, messages, calls)
        elif kind == "function_call_output":
            _function_output(item, where, out, messages, calls)
        elif kind == "reasoning":
            continue  # the model's own earlier thinking: another provider cannot take it back
        elif isinstance(kind, str):
            out.openai_only(f"{where}.type", f"the input item type {kind!r}")
        else:
            raise bad(f"{where}.type", f"must be a string, got {_got(kind)}")


def convert_tools(tools: Any, out: Decoded) -> list[dict]:
    if not isinstance(tools, list):
        raise bad("tools", f"must be an array, got {_got(tools)}")
    converted = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise bad(where, f"each tool must be an object, got {_got(tool)}")
        kind = tool.get("type")
        if kind != "function":
            if not isinstance(kind, str):
                raise bad(f"{where}.type", "field required (a string)")
            out.openai_only(f"{where}.type", f"the built-in tool {kind!r}")
            continue
        fn: dict = {"name": _string(tool, "name", where, required=True)}
        description = _string(tool, "description", where)
        if description:
            fn["description"] = description
        params = tool.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise bad(f"{where}.parameters", f"must be a JSON Schema object, got {_got(params)}")
        fn["parameters"] = params if params is not None else {"type": "object", "properties": {}}
        if tool.get("strict") is not None:
            if not isinstance(tool["strict"], bool):
                raise bad(f"{where}.strict", "must be true or false")
            fn["strict"] = tool["strict"]
        converted.append({"type": "function", "function": fn})
    return converted


def convert_tool_choice(choice: Any, out: Decoded) -> Any:
    if choice in ("none", "auto", "required"):
        return choice
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "function":
            return {"type": "function", "function": {"name": _string(choice, "name", "tool_choice", required=True)}}
        if isinstance(kind, str):
            out.openai_only("tool_choice.type", f"tool_choice {kind!r}")
            return None
    raise bad("tool_choice", f"expected none, auto, required or {{\"type\": \"function\", \"name\": ...}}, "
                             f"got {_got(choice)}")


def convert_text(text: Any) -> dict | None:
    """`text.format` → response_format (None for plain text)."""
    if not isinstance(text, dict):
        raise bad("text", f"must be an object, got {_got(text)}")
    fmt = text.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise bad("text.format", f"must be an object, got {_got(fmt)}")
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise bad("text.format.schema", "field required (a JSON Schema object)")
        spec: dict = {"name": _string(fmt, "name", "text.format", required=True), "schema": schema}
        if _string(fmt, "description", "text.format"):
            spec["description"] = fmt["description"]
        if fmt.get("strict") is not None:
            spec["strict"] = bool(fmt["strict"])
        return {"type": "json_schema", "json_schema": spec}
    raise bad("text.format.type", f"expected text, json_object or json_schema, got {_got(kind)}")


def _number(body: dict, key: str, lo: float, hi: float) -> None:
    v = body.get(key)
    if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or not lo <= v <= hi):
        raise bad(key, f"must be a number from {lo:g} to {hi:g}, got {_got(v)}")


def check_basics(body: dict) -> None:
    model = body.get("model")
    if model is None:
        raise bad("model", "field required")
    if not isinstance(model, str) or not model:
        raise bad("model", "must be a non-empty string")
    if not isinstance(body.get("stream", False), bool):
        raise bad("stream", "must be true or false")
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    mot = body.get("max_output_tokens")
    if mot is not None and (not isinstance(mot, int) or isinstance(mot, bool) or mot < 1):
        raise bad("max_output_tokens", f"must be a positive integer, got {_got(mot)}")
    for key in ("instructions", "user"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise bad(key, f"must be a string, got {_got(body[key])}")
    if body.get("parallel_tool_calls") is not None and not isinstance(body["parallel_tool_calls"], bool):
        raise bad("parallel_tool_calls", "must be true or false")
    meta = body.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise bad("metadata", f"must be an object, got {_got(meta)}")


def to_canonical(body: dict, *, stream: bool) -> Decoded:
    """A Responses body (gateway fields already set aside) → the canonical chat body and what only OpenAI serves."""
    check_basics(body)
    out = Decoded()
    messages: list[dict] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    stateful = [key for key in STATEFUL if body.get(key) not in (None, False)]
    for key in stateful:
        out.openai_only(key, STATEFUL[key])
    if body.get("store") is True:
        out.openai_only("store", "storing responses (store: true)")
    if body.get("input") is not None:
        convert_input(body["input"], out, messages)
    elif not stateful:
        raise bad("input", "field required (a string or an array of input items)")
    for key in body:
        if key not in TRANSLATED and key not in IGNORED and key not in STATEFUL and key != "store":
            out.openai_only(key, f"the parameter {key!r}")
    canonical = out.body
    canonical["model"] = body["model"]
    canonical["messages"] = messages
    if body.get("max_output_tokens") is not None:
        canonical["max_tokens"] = body["max_output_tokens"]
    for key in ("temperature", "top_p", "user", "parallel_tool_calls"):
        if body.get(key) is not None:
            canonical[key] = body[key]
    if body.get("tools") is not None:
        tools = convert_tools(body["tools"], out)
        if tools:
            canonical["tools"] = tools
    if body.get("tool_choice") is not None:
        choice = convert_tool_choice(body["tool_choice"], out)
        if choice is not None and "tools" in canonical:
            canonical["tool_choice"] = choice
    if "tools" not in canonical:
        canonical.pop("parallel_tool_calls", None)
    reasoning = body.get("reasoning")
    if reasoning is not None:
        if not isinstance(reasoning, dict):
            raise bad("reasoning", f"must be an object, got {_got(reasoning)}")
        effort = reasoning.get("effort")
        if effort is not None:
            if effort not in EFFORTS:
                raise bad("reasoning.effort", f"expected none, minimal, low, medium, high or xhigh, got {_got(effort)}")
            canonical["reasoning_effort"] = EFFORTS[effort]
    if body.get("text") is not None:
        fmt = convert_text(body["text"])
        if fmt is not None:
            canonical["response_format"] = fmt
    if stream:
        canonical["stream"] = True
        canonical["stream_options"] = {"include_usage": True}  # response.completed reports usage: ask for it
    return out

