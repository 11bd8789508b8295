"""Anthropic Messages request → canonical OpenAI chat body, checking it as Anthropic would (400s name the field)."""

from __future__ import annotations

import orjson

from dialects.openai_check import json_type
from kernel.errors import ClientError

ROLES = frozenset({"user", "assistant"})


def bad(where: str, problem: str) -> ClientError:
    return ClientError(f"{where}: {problem}", param=where)


def shown(value) -> str:
    """A client's value for an error message: short scalars as they are, anything else by its JSON type."""
    if isinstance(value, (str, int, float)) and len(text := repr(value)) <= 40:
        return text
    return json_type(value)


def _string(block: dict, key: str, where: str, *, required: bool = False) -> str | None:
    """block[key] when it is a string (non-empty if required); absent or null is None unless required."""
    value = block.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise bad(f"{where}.{key}", "field required (a non-empty string)" if value is None or value == ""
                  else f"must be a string, got {shown(value)}")
    return value


def _text(block: dict, where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise bad(f"{where}.text", "field required (a string)")
    return text


def _source_url(source: dict, where: str) -> str:
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64":
        media, data = source.get("media_type"), source.get("data")
        if not isinstance(media, str) or not media or not isinstance(data, str):
            raise bad(f"{where}.source", "a base64 source needs media_type and data (strings)")
        return f"data:{media};base64,{data}"
    if kind == "url":
        if not isinstance(source.get("url"), str):
            raise bad(f"{where}.source.url", "field required (a string)")
        return source["url"]
    raise bad(f"{where}.source.type", f"expected 'base64' or 'url', got {shown(kind)}")


def _part(block: dict, where: str) -> dict | None:
    """One user/assistant content block → an OpenAI content part (None: nothing an OpenAI model can use)."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": _text(block, where)}
    if kind == "image":
        return {"type": "image_url", "image_url": {"url": _source_url(block.get("source"), where)}}
    if kind == "document":
        source = block.get("source")
        if not isinstance(source, dict):
            raise bad(f"{where}.source", f"field required (an object), got {shown(source)}")
        title = _string(block, "title", where)
        if source.get("type") == "text":
            return {"type": "text", "text": _string(source, "data", f"{where}.source") or ""}
        url = _source_url(source, where)
        if url.startswith("data:"):
            return {"type": "file", "file": {"file_data": url, "filename": title or "document.pdf"}}
        return {"type": "text", "text": url}
    if kind in ("thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result"):
        return None  # the model's own earlier work; another provider cannot take it back
    raise bad(f"{where}.type", f"unknown content block type {shown(kind)}")


def _tool_result_content(block: dict, where: str) -> str | list:
    content = block.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad(f"{where}.content", "must be a string or an array of blocks")
    parts = [p for i, b in enumerate(content) if (p := _part(_block(b, f"{where}.content[{i}]"),
                                                               f"{where}.content[{i}]")) is not None]
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _block(b, where: str) -> dict:
    if not isinstance(b, dict):
        raise bad(where, "each content block must be an object")
    return b


def _collapse(parts: list[dict]) -> str | list[dict]:
    if len(parts) == 1 and parts[0]["type"] == "text":
        return parts[0]["text"]
    return parts


def convert_message(m, i: int, out: list[dict], last: bool = False) -> None:
    if type(m) is not dict:
        raise bad(f"messages.{i}", "each message must be an object")
    role = m.get("role")
    content = m.get("content")
    if type(content) is str and (role == "user" or role == "assistant"):
        out.append({"role": role, "content": content})
        return
    where = f"messages.{i}"
    if type(role) is not str or role not in ROLES:
        raise bad(f"{where}.role", "field required" if role is None else f"expected 'user' or 'assistant', got {shown(role)}")
    if not isinstance(content, list):
        raise bad(f"{where}.content", "field required (a string or an array of content blocks)")
    if not content and not (last and role == "assistant"):
        raise bad(f"{where}.content", "all messages must have non-empty content except for the optional final "
                                      "assistant message")  # Anthropic's own rule, in its words
    parts: list[dict] = []
    calls: list[dict] = []
    for j, block in enumerate(content):
        kind = block.get("type") if type(block) is dict else None
        if kind == "text":  # the common case first, without building a location string
            text = block.get("text")
            if type(text) is not str:
                raise bad(f"{where}.content.{j}.text", "field required (a string)")
            parts.append({"type": "text", "text": text})
            continue
        here = f"{where}.content.{j}"
        _block(block, here)
        if kind == "tool_use":
            if role != "assistant":
                raise bad(here, "tool_use blocks belong in assistant messages")
            tool_id, name = block.get("id"), block.get("name")
            if not tool_id or not name or not isinstance(tool_id, str) or not isinstance(name, str):
                raise bad(here, "a tool_use block needs id and name (strings)")
            tool_input = block.get("input")
            if tool_input is not None and not isinstance(tool_input, dict):
                raise bad(f"{here}.input", f"must be an object, got {shown(tool_input)}")
            calls.append({"id": tool_id, "type": "function", "function": {
                "name": name, "arguments": orjson.dumps(tool_input or {}).decode()}})
        elif kind == "tool_result":
            if role != "user":
                raise bad(here, "tool_result blocks belong in user messages")
            _string(block, "tool_use_id", here, required=True)
            result = _tool_result_content(block, here)
            if block.get("is_error") and isinstance(result, str):
                result = "Error: " + result
            out.append({"role": "tool", "tool_call_id": block["tool_use_id"], "content": result})
        else:
            part = _part(block, here)
            if part is not None:
                parts.append(part)
    if role == "assistant":
        msg: dict = {"role": "assistant", "content": _collapse(parts) if parts else None}
        if calls:
            msg["tool_calls"] = calls
        if parts or calls:
            out.append(msg)
    elif parts:
        out.append({"role": "user", "content": _collapse(parts)})


def convert_system(system) -> dict | None:
    if system is None:
        return None
    if isinstance(system, str):
        return {"role": "system", "content": system} if system else None
    if not isinstance(system, list):
        raise bad("system", "must be a string or an array of text blocks")
    texts = []
    for i, b in enumerate(system):
        block = _block(b, f"system.{i}")
        if block.get("type") != "text":
            raise bad(f"system.{i}.type", "system blocks must be text")
        texts.append(_text(block, f"system.{i}"))
    return {"role": "system", "content": "\n\n".join(texts)}


def convert_tools(tools) -> list[dict]:
    if not isinstance(tools, list):
        raise bad("tools", "must be an array")
    out = []
    for i, t in enumerate(tools):
        tool = _block(t, f"tools.{i}")
        if tool.get("type") not in (None, "custom"):
            continue  # Anthropic's server tools (web_search, bash, ...) exist only on Anthropic
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise bad(f"tools.{i}.name", "field required")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise bad(f"tools.{i}.input_schema", "field required (a JSON Schema object)")
        fn = {"name": tool["name"], "parameters": schema}
        description = _string(tool, "description", f"tools.{i}")
        if description:
            fn["description"] = description
        out.append({"type": "function", "function": fn})
    return out


def convert_tool_choice(choice, body: dict) -> None:
    if not isinstance(choice, dict):
        raise bad("tool_choice", "must be an object such as {\"type\": \"auto\"}")
    kind = choice.get("type")
    if kind == "auto":
        body["tool_choice"] = "auto"
    elif kind == "any":
        body["tool_choice"] = "required"
    elif kind == "none":
        body["tool_choice"] = "none"
    elif kind == "tool":
        body["tool_choice"] = {"type": "function", "function": {"name": _string(choice, "name", "tool_choice",
                                                                                required=True)}}
    else:
        raise bad("tool_choice.type", f"expected auto, any, tool or none, got {shown(kind)}")
    if choice.get("disable_parallel_tool_use"):
        body["parallel_tool_calls"] = False


def check_basics(body: dict, *, need_max_tokens: bool) -> None:
    model = body.get("model")
    if model is None:
        raise bad("model", "field required")
    if not isinstance(model, str) or not model:
        raise bad("model", "must be a non-empty string")
    if need_max_tokens:
        mt = body.get("max_tokens")
        if mt is None:
            raise bad("max_tokens", "field required")
        if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
            raise bad("max_tokens", f"must be a positive integer, got {shown(mt)}")
    messages = body.get("messages")
    if messages is None:
        raise bad("messages", "field required")
    if not isinstance(messages, list):
        raise bad("messages", "must be an array of messages")
    if not messages:
        raise bad("messages", "at least one message is required")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad("stream", "must be true or false")
    for key in ("temperature", "top_p"):
        v = body.get(key)
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool)):
            raise bad(key, f"must be a number, got {shown(v)}")
    top_k = body.get("top_k")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool)):
        raise bad("top_k", f"must be an integer, got {shown(top_k)}")
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        raise bad("stop_sequences", "must be an array of strings")
    meta = body.get("metadata")
    if meta is not None:
        if not isinstance(meta, dict):
            raise bad("metadata", f"must be an object, got {shown(meta)}")
        _string(meta, "user_id", "metadata")
    thinking = body.get("thinking")
    if thinking is not None and not isinstance(thinking, dict):
        raise bad("thinking", f"must be an object, got {shown(thinking)}")


def to_canonical(body: dict, *, stream: bool) -> dict:
    """A checked Anthropic body → the canonical OpenAI chat body."""
    messages: list[dict] = []
    system = convert_system(body.get("system"))
    if system is not None:
        messages.append(system)
    final = len(body["messages"]) - 1
    for i, m in enumerate(body["messages"]):
        convert_message(m, i, messages, i == final)
    out: dict = {"model": body["model"], "messages": messages}
    if body.get("max_tokens") is not None:
        out["max_tokens"] = body["max_tokens"]
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    if body.get("stop_sequences"):
        out["stop"] = body["stop_sequences"]
    user = (body.get("metadata") or {}).get("user_id") if isinstance(body.get("metadata"), dict) else None
    if user:
        out["user"] = user
    if body.get("tools") is not None:
        tools = convert_tools(body["tools"])
        if tools:
            out["tools"] = tools
    if body.get("tool_choice") is not None:
        convert_tool_choice(body["tool_choice"], out)
        if "tools" not in out:
            out.pop("tool_choice", None)
            out.pop("parallel_tool_calls", None)
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}  # Anthropic's message_delta reports usage; ask for it
    return out
