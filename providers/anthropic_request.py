"""Canonical OpenAI chat request → Anthropic Messages request body (the OpenAI-client → Claude direction)."""

from __future__ import annotations

import orjson

from kernel.errors import ClientError
from providers.shared.content_parts import data_url, image_url

# Claude's output ceilings, by model-name prefix (longest first); a request without max_tokens gets this.
MAX_TOKENS_BY_PREFIX = (
    ("claude-3-5-sonnet", 8192), ("claude-3-5-haiku", 8192), ("claude-3-7-sonnet", 64000),
    ("claude-sonnet-4-5", 64000), ("claude-haiku-4-5", 64000), ("claude-opus-4-5", 64000),
    ("claude-opus-4-1", 32000), ("claude-sonnet-4", 64000), ("claude-opus-4", 32000),
    ("claude-3-opus", 4096), ("claude-3-sonnet", 4096), ("claude-3-haiku", 4096),
)
DEFAULT_MAX_TOKENS = 4096
# reasoning_effort → thinking budget; Anthropic's minimum budget is 1024 tokens.
THINKING_BUDGET = {"low": 1024, "medium": 2048, "high": 4096}
JSON_TOOL = "json_tool_call"  # the forced tool that carries a response_format's JSON
_NO_THINKING = frozenset({"none", "minimal"})
# Image types Anthropic accepts in a base64 source.
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def default_max_tokens(model: str) -> int:
    for prefix, limit in MAX_TOKENS_BY_PREFIX:
        if model.startswith(prefix):
            return limit
    return DEFAULT_MAX_TOKENS


def _data_url_source(url: str, where: str) -> dict:
    parsed = data_url(url)
    if parsed is None or not parsed.base64:
        raise ClientError(f"{where}: a data: URL must be base64-encoded", param=where)
    return {"type": "base64", "media_type": parsed.mime, "data": parsed.data}


def _image_block(part: dict, where: str) -> dict:
    url = image_url(part)
    if not url:
        raise ClientError(f"{where}.image_url.url is missing", param=where)
    if url.startswith("data:"):
        source = _data_url_source(url, where)
        if source["media_type"] not in _IMAGE_TYPES:
            raise ClientError(f"{where}: image type {source['media_type']!r} is not supported by Anthropic "
                              f"(use one of {', '.join(sorted(_IMAGE_TYPES))})", param=where)
        return {"type": "image", "source": source}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _file_block(part: dict, where: str) -> dict:
    file = part.get("file") or {}
    data = file.get("file_data")
    if isinstance(data, str) and data.startswith("data:"):
        source = _data_url_source(data, where)
        if source["media_type"].startswith("image/"):
            return {"type": "image", "source": source}
        block = {"type": "document", "source": source}
    elif file.get("file_id"):
        block = {"type": "document", "source": {"type": "file", "file_id": file["file_id"]}}
    else:
        raise ClientError(f"{where}: a file part needs file_data as a base64 data: URL, or a file_id", param=where)
    if file.get("filename"):
        block["title"] = file["filename"]
    return block


def content_blocks(content, where: str) -> list[dict]:
    """OpenAI message content (string or parts) → Anthropic content blocks; empty text is left out."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise ClientError(f"{where}.content must be a string or an array of parts", param=where)
    out = []
    for i, part in enumerate(content):
        here = f"{where}.content[{i}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not part.get("text"):
                continue
            block = {"type": "text", "text": part["text"]}
        elif kind == "image_url":
            block = _image_block(part, here)
        elif kind == "file":
            block = _file_block(part, here)
        elif kind in ("thinking", "redacted_thinking", "tool_use", "tool_result", "image", "document"):
            block = part  # already an Anthropic block (clients that speak both formats send these)
        else:
            raise ClientError(f"{here}: part type {kind!r} is not supported by Anthropic", param=here)
        if isinstance(part, dict) and "cache_control" in part and block is not part:
            block["cache_control"] = part["cache_control"]
        out.append(block)
    return out


def _tool_use(tc: dict, where: str) -> dict:
    fn = tc.get("function") or {}
    args = fn.get("arguments") or "{}"
    try:
        parsed = orjson.loads(args) if isinstance(args, str) else args
    except orjson.JSONDecodeError:
        raise ClientError(f"{where}.function.arguments is not valid JSON", param=where) from None
    if not isinstance(parsed, dict):
        parsed = {"value": parsed}  # Anthropic tool input must be an object
    return {"type": "tool_use", "id": tc.get("id") or "", "name": fn.get("name") or "", "input": parsed}


def _tool_result(m: dict, where: str) -> dict:
    content = m.get("content")
    if isinstance(content, list):
        blocks = content_blocks(content, where)
        result = blocks or ""
    else:
        result = content if isinstance(content, str) else ("" if content is None else orjson.dumps(content).decode())
    block = {"type": "tool_result", "tool_use_id": m.get("tool_call_id") or m.get("name") or "", "content": result}
    return block


def convert_messages(messages: list[dict]) -> tuple[list[dict] | str | None, list[dict]]:
    """Split out the system prompt and turn the rest into alternating Anthropic turns."""
    system: list[dict] = []
    turns: list[dict] = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        role = m.get("role")
        if role in ("system", "developer"):
            system.extend(content_blocks(m.get("content"), where))
            continue
        if role in ("tool", "function"):
            role, blocks = "user", [_tool_result(m, where)]
        elif role == "assistant":
            blocks = []
            for tb in m.get("thinking_blocks") or ():
                blocks.append(tb)
            blocks += content_blocks(m.get("content"), where)
            for j, tc in enumerate(m.get("tool_calls") or ()):
                blocks.append(_tool_use(tc, f"{where}.tool_calls[{j}]"))
            fc = m.get("function_call")
            if fc:
                blocks.append(_tool_use({"id": fc.get("name"), "function": fc}, f"{where}.function_call"))
        else:
            role, blocks = "user", content_blocks(m.get("content"), where)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)  # Anthropic wants user and assistant turns to alternate
        else:
            turns.append({"role": role, "content": blocks})
    if not turns:
        # OpenAI answers a system-only conversation; Anthropic needs a turn to answer
        turns.append({"role": "user", "content": [{"type": "text", "text": "."}]})
    for t in turns:
        # tool_result blocks must lead a user turn; a turn of one plain text block reads best as a string
        if t["role"] == "user" and len(t["content"]) > 1:
            t["content"].sort(key=lambda b: b.get("type") != "tool_result")
        if len(t["content"]) == 1 and t["content"][0]["type"] == "text" and len(t["content"][0]) == 2:
            t["content"] = t["content"][0]["text"]
    if not system:
        return None, turns
    if all(len(b) == 2 and b["type"] == "text" for b in system):
        return "\n\n".join(b["text"] for b in system), turns
    return system, turns


def convert_tools(tools: list) -> list[dict]:
    out = []
    for i, t in enumerate(tools):
        if not isinstance(t, dict):
            raise ClientError(f"tools[{i}] must be an object", param=f"tools[{i}]")
        if t.get("type") != "function":
            out.append(t)  # an Anthropic tool given as is (web_search, bash, ...)
            continue
        fn = t.get("function") or {}
        if not fn.get("name"):
            raise ClientError(f"tools[{i}].function.name is missing", param=f"tools[{i}].function.name")
        tool = {"name": fn["name"], "input_schema": fn.get("parameters") or {"type": "object", "properties": {}}}
        if fn.get("description"):
            tool["description"] = fn["description"]
        if "cache_control" in t:
            tool["cache_control"] = t["cache_control"]
        out.append(tool)
    return out


def convert_tool_choice(choice) -> dict | None:
    if choice in (None, "auto"):
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        if name:
            return {"type": "tool", "name": name}
    raise ClientError(f"tool_choice {choice!r} is not understood", param="tool_choice")


def _json_tool(response_format: dict) -> dict | None:
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") or {"type": "object"}
        desc = spec.get("description") or "Respond with a JSON object matching this schema."
    elif kind == "json_object":
        schema, desc = {"type": "object", "additionalProperties": True}, "Respond with a JSON object."
    else:
        return None
    return {"name": JSON_TOOL, "description": desc, "input_schema": schema}


def build_body(body: dict, model: str) -> dict:
    """The Anthropic request for a canonical chat body; raises ClientError naming anything it cannot carry."""
    system, messages = convert_messages(body["messages"])
    out: dict = {"model": model, "messages": messages}
    if system is not None:
        out["system"] = system
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens(model)
    out["max_tokens"] = max_tokens
    for key in ("temperature", "top_p", "top_k"):
        if body.get(key) is not None:
            out[key] = body[key]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("user"):
        out["metadata"] = {"user_id": body["user"]}
    tools = body.get("tools")
    if tools:
        out["tools"] = convert_tools(tools)
        if body.get("tool_choice") is not None or body.get("parallel_tool_calls") is False:
            out["tool_choice"] = convert_tool_choice(body.get("tool_choice"))
    if body.get("parallel_tool_calls") is False and "tool_choice" in out and out["tool_choice"]["type"] != "none":
        out["tool_choice"]["disable_parallel_tool_use"] = True
    rf = body.get("response_format")
    if isinstance(rf, dict):
        tool = _json_tool(rf)
        if tool is not None:
            out["tools"] = [*out.get("tools", ()), tool]
            out["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
    thinking = body.get("thinking")
    effort = body.get("reasoning_effort")
    if isinstance(thinking, dict):
        out["thinking"] = thinking
    elif effort and effort not in _NO_THINKING:
        budget = THINKING_BUDGET.get(effort)
        if budget is None:
            raise ClientError(f"reasoning_effort {effort!r} is not one of low, medium, high", param="reasoning_effort")
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    budget = (out.get("thinking") or {}).get("budget_tokens")
    if isinstance(budget, int) and out["max_tokens"] <= budget:
        out["max_tokens"] = budget + DEFAULT_MAX_TOKENS  # Anthropic refuses max_tokens at or under the budget
    if body.get("stream"):
        out["stream"] = True
    return out


def wants_json_tool(body: dict | None) -> bool:
    """True when a reply's forced JSON tool call should come back as message content."""
    rf = body.get("response_format") if isinstance(body, dict) else None
    return isinstance(rf, dict) and rf.get("type") in ("json_schema", "json_object")

