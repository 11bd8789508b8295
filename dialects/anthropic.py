"""The Anthropic dialect (`/v1/messages`): Anthropic Messages requests in, Anthropic responses and events out.

decode keeps the client's body in `call.native` (the Anthropic provider forwards it as it is) and puts
the canonical OpenAI chat body in `call.body`, switching the endpoint to "chat" so every chat provider
can serve the route. encode passes Anthropic bytes through, or renders a canonical reply as a Message.
"""

from __future__ import annotations

import orjson

from dialects.anthropic_decode import bad, check_basics, to_canonical
from dialects.anthropic_stream import STOP_REASON, anthropic_usage, encode_stream, error_payload, guard_native, message_id
from kernel.bodies import parse_json_body, refuse_form
from kernel.call import Call, Reply
from kernel.errors import GatewayError
from kernel.guards.secrets import bytes_scrub
from kernel.params import CLIENT_CREDENTIAL_FIELDS, GATEWAY_FIELDS, option_problem
from kernel.plugins import DialectBase
from kernel.registry import register_dialect

_SPECIAL = (GATEWAY_FIELDS | CLIENT_CREDENTIAL_FIELDS) - {"metadata"}
_SSE_HEADERS = {"cache-control": "no-cache"}


def _set_aside(call: Call, body: dict) -> dict:
    """Gateway-only and credential fields out of the body; Anthropic's metadata keeps only user_id."""
    meta = body.get("metadata")
    if _SPECIAL.isdisjoint(body) and (meta is None or (isinstance(meta, dict) and set(meta) <= {"user_id"})):
        return body
    native: dict = {}
    credentials = {}
    for key, value in body.items():
        if key in CLIENT_CREDENTIAL_FIELDS:
            credentials[key] = value
        elif key == "metadata":
            if not isinstance(value, dict):
                raise bad("metadata", "must be an object")
            call.metadata = value
            if value.get("user_id") is not None:
                native["metadata"] = {"user_id": value["user_id"]}
        elif key in GATEWAY_FIELDS:
            problem = option_problem(key, value)
            if problem:
                raise bad(key, problem.split(" ", 1)[1])
            call.options[key] = value
        else:
            native[key] = value
    if credentials:
        call.credentials = credentials
    return native


async def decode(call: Call) -> None:
    """Check and translate an Anthropic request; nothing reaches an upstream for a request that fails here."""
    refuse_form(call)
    decode_json(call)


def decode_json(call: Call) -> None:
    """`decode`, synchronous and touching only `call`, so a big body can be decoded in a worker thread."""
    body = parse_json_body(call.raw)
    count_only = call.endpoint == "count_tokens"
    check_basics(body, need_max_tokens=not count_only)
    native = _set_aside(call, body)
    stream = bool(native.get("stream")) and not count_only
    call.native = native
    call.body = to_canonical(native, stream=stream)
    call.model = native["model"]
    call.stream = stream
    if not count_only:
        call.endpoint = "chat"  # every provider that serves chat can serve /v1/messages through translation


def encode_error(err: GatewayError) -> bytes:
    return orjson.dumps(error_payload(err))


def _content(message: dict) -> list[dict]:
    blocks: list[dict] = []
    for tb in message.get("thinking_blocks") or ():
        blocks.append(tb)
    if not blocks and message.get("reasoning_content"):
        blocks.append({"type": "thinking", "thinking": message["reasoning_content"], "signature": ""})
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if content:
        blocks.append({"type": "text", "text": content})
    for tc in message.get("tool_calls") or ():
        fn = tc.get("function") or {}
        try:
            args = orjson.loads(fn.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            args = {}
        blocks.append({"type": "tool_use", "id": tc.get("id"), "name": fn.get("name"),
                       "input": args if isinstance(args, dict) else {"value": args}})
    return blocks


def to_message(body: dict, model: str | None) -> dict:
    """A canonical chat completion → an Anthropic Message."""
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    return {
        "id": message_id(body.get("id")),
        "type": "message",
        "role": "assistant",
        "model": body.get("model") or model,
        "content": _content(message),
        "stop_reason": STOP_REASON.get(choice.get("finish_reason"), "end_turn"),
        "stop_sequence": None,
        "usage": anthropic_usage(body.get("usage")),
    }


def encode(call: Call, reply: Reply) -> Reply:
    if reply.wire == "binary":
        return reply
    if reply.stream is not None:
        scrub = bytes_scrub(call)
        if reply.wire == "anthropic":
            stream = guard_native(reply.stream, scrub)
        else:
            stream = encode_stream(reply.canonical_stream(), call.model, scrub)
        return Reply(status=reply.status, stream=stream, wire="anthropic", media_type="text/event-stream",
                     headers={**_SSE_HEADERS, **reply.headers})
    if reply.raw is not None and reply.wire == "anthropic":
        data = reply.raw
    else:
        data = orjson.dumps(to_message(reply.canonical(), call.model))
    return Reply(status=reply.status, raw=data, wire="anthropic", media_type="application/json", headers=reply.headers)


class AnthropicDialect(DialectBase):
    """The registered dialect object."""

    name = "anthropic"
    wire = "anthropic"
    decode = staticmethod(decode)
    decode_json = staticmethod(decode_json)
    encode = staticmethod(encode)
    encode_error = staticmethod(encode_error)


register_dialect("anthropic", AnthropicDialect())
