"""Canonical (OpenAI) chat request → Gemini `generateContent` body, shared by Google AI Studio and Vertex AI."""

from __future__ import annotations

import mimetypes
from typing import Any

import orjson

from kernel.errors import ClientError
from providers.gemini_schema import reduce_schema
from providers.shared.content_parts import data_url, image_url, parts, text_of

SIGNATURE_SEP = "__thought__"  # see gemini_response.py: a thoughtSignature carried in a tool call id
_TOOL_CHOICE = {"auto": "AUTO", "none": "NONE", "required": "ANY", "any": "ANY"}
_AUDIO_MIME = {"wav": "audio/wav", "mp3": "audio/mp3", "flac": "audio/flac", "aac": "audio/aac",
               "ogg": "audio/ogg", "webm": "audio/webm", "pcm16": "audio/pcm"}
# Gemini-only request fields a client may send as extra_body, by their snake_case and camelCase names.
_PASS_THROUGH = {"safety_settings": "safetySettings", "safetySettings": "safetySettings",
                 "cached_content": "cachedContent", "cachedContent": "cachedContent",
                 "labels": "labels"}


def data_url_part(url: str) -> dict | None:
    """`data:<mime>;base64,<data>` → an inlineData part (None when `url` is not a base64 data URL)."""
    parsed = data_url(url)
    if parsed is None:
        return None
    if not parsed.base64:
        raise ClientError("only base64 data URLs can be sent to Gemini", param="messages")
    return {"inlineData": {"mimeType": parsed.mime, "data": parsed.data}}


def url_part(url: str, mime: str | None = None) -> dict:
    """An image or file URL: inline when it is a data URL, else a fileData reference Gemini fetches itself."""
    inline = data_url_part(url)
    if inline is not None:
        return inline
    mime = mime or mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def content_parts(content: Any) -> list[dict]:
    """OpenAI message content (a string or a list of typed parts) → Gemini parts."""
    out = []
    for item in parts(content):
        kind = item.get("type")
        if kind == "text":
            out.append({"text": item.get("text", "")})
        elif kind == "image_url":
            image = item.get("image_url")
            out.append(url_part(image_url(item), image.get("format") if isinstance(image, dict) else None))
        elif kind == "input_audio":
            audio = item.get("input_audio") or {}
            mime = _AUDIO_MIME.get(audio.get("format", "wav"), "audio/" + str(audio.get("format", "wav")))
            out.append({"inlineData": {"mimeType": mime, "data": audio.get("data", "")}})
        elif kind == "file":
            file = item.get("file") or {}
            ref = file.get("file_data") or file.get("file_id") or ""
            out.append(url_part(ref, file.get("format")))
    return out


def _arguments(raw: Any) -> dict:
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        args = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ClientError("tool_calls[].function.arguments must be a JSON object", param="messages") from None
    return args if isinstance(args, dict) else {"value": args}


def _tool_response(content: Any) -> dict:
    """A tool message's content → functionResponse.response (a JSON object, as Gemini requires)."""
    if isinstance(content, list):
        content = text_of(content)
    if isinstance(content, str):
        try:
            value = orjson.loads(content)
        except orjson.JSONDecodeError:
            value = content
        return value if isinstance(value, dict) else {"content": value}
    return {"content": content}


def to_contents(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    """Messages → (systemInstruction parts, contents); consecutive turns of one role are merged."""
    system: list[dict] = []
    contents: list[dict] = []
    names: dict[str, str] = {}  # tool_call_id → function name, for functionResponse
    for m in messages:
        role = m.get("role")
        if role in ("system", "developer"):
            system.extend(content_parts(m.get("content")))
            continue
        if role == "assistant":
            parts = content_parts(m.get("content"))
            for tc in m.get("tool_calls") or ():
                fn = tc.get("function") or {}
                names[tc.get("id", "")] = fn.get("name", "")
                part = {"functionCall": {"name": fn.get("name", ""), "args": _arguments(fn.get("arguments"))}}
                _, sep, signature = str(tc.get("id", "")).partition(SIGNATURE_SEP)
                if sep:
                    part["thoughtSignature"] = signature
                parts.append(part)
            fc = m.get("function_call")
            if fc:
                parts.append({"functionCall": {"name": fc.get("name", ""), "args": _arguments(fc.get("arguments"))}})
            gemini_role = "model"
        elif role == "tool":
            name = names.get(m.get("tool_call_id", "")) or m.get("name") or ""
            parts = [{"functionResponse": {"name": name, "response": _tool_response(m.get("content"))}}]
            gemini_role = "user"
        elif role == "function":
            parts = [{"functionResponse": {"name": m.get("name", ""), "response": _tool_response(m.get("content"))}}]
            gemini_role = "user"
        else:
            parts = content_parts(m.get("content"))
            gemini_role = "user"
        if not parts:
            continue
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": gemini_role, "parts": parts})
    return system, contents


def function_declaration(fn: dict) -> dict:
    out = {"name": fn.get("name", "")}
    if fn.get("description"):
        out["description"] = fn["description"]
    params = reduce_schema(fn.get("parameters")) if fn.get("parameters") else None
    if params and (params.get("properties") or params.get("type") != "object"):
        out["parameters"] = params  # a parameterless function must not send an empty object schema
    return out


def to_tools(tools: list[dict]) -> list[dict]:
    """OpenAI tools → one Tool of functionDeclarations; Gemini-native tools ({"googleSearch": {}}) pass as they are."""
    declarations = []
    native = []
    for t in tools:
        if not isinstance(t, dict):
            continue
        if t.get("type") == "function":
            declarations.append(function_declaration(t.get("function") or {}))
        elif "type" not in t:
            native.append(t)
    return ([{"functionDeclarations": declarations}] if declarations else []) + native


def to_tool_config(choice: Any) -> dict | None:
    if isinstance(choice, str):
        mode = _TOOL_CHOICE.get(choice)
        return {"functionCallingConfig": {"mode": mode}} if mode else None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    return None


def generation_config(body: dict) -> dict:
    config: dict[str, Any] = {}
    if body.get("temperature") is not None:
        config["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is not None:
        config["maxOutputTokens"] = limit
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("n") is not None:
        config["candidateCount"] = body["n"]
    if body.get("presence_penalty") is not None:
        config["presencePenalty"] = body["presence_penalty"]
    if body.get("frequency_penalty") is not None:
        config["frequencyPenalty"] = body["frequency_penalty"]
    if body.get("seed") is not None:
        config["seed"] = body["seed"]
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema:
            config["responseSchema"] = reduce_schema(schema)
    return config


def chat_body(body: dict) -> dict:
    """The whole generateContent body for a canonical chat request."""
    system, contents = to_contents(body["messages"])
    if not contents and system:  # OpenAI answers a system-only conversation; Gemini needs one turn of content
        contents, system = [{"role": "user", "parts": system}], []
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    tools = to_tools(body.get("tools") or ())
    if tools:
        out["tools"] = tools
        tool_config = to_tool_config(body.get("tool_choice"))
        if tool_config:
            out["toolConfig"] = tool_config
    config = generation_config(body)
    if config:
        out["generationConfig"] = config
    for key, name in _PASS_THROUGH.items():
        if key in body:
            out[name] = body[key]
    return out

