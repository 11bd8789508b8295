"""The OpenAI dialect: what OpenAI SDKs send and expect, which is also relaykit's canonical form."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import orjson

from dialects.openai_check import check_body
from kernel.bodies import parse_json_body
from kernel.call import Call, Failed, Reply
from kernel.errors import ClientError, GatewayError, UpstreamError
from kernel.guards.secrets import bytes_scrub, scrub_marked, unchanged
from kernel.params import CLIENT_CREDENTIAL_FIELDS, GATEWAY_FIELDS, option_problem
from kernel.plugins import DialectBase
from kernel.registry import register_dialect
from kernel.sse import frame

# The fields each endpoint cannot do without (besides `model`).
REQUIRED = {
    "chat": ("messages",),
    "completions": ("prompt",),
    "embeddings": ("input",),
    "moderations": ("input",),
    "images": ("prompt",),
    "speech": ("input", "voice"),
    "transcriptions": ("file",),
    "translations": ("file",),
}
# Endpoints where OpenAI itself lets `model` be left out.
MODEL_OPTIONAL = frozenset({"moderations", "images"})
_SPECIAL = GATEWAY_FIELDS | CLIENT_CREDENTIAL_FIELDS
DONE = b"data: [DONE]\n\n"
ERROR_MARK = b'"error"'  # how an in-band error event in an OpenAI stream starts: {"error": {...}}


def set_aside(call: Call, body: dict) -> dict:
    """Move gateway-only and credential fields out of the body into the Call; returns the upstream body."""
    if _SPECIAL.isdisjoint(body):
        return body
    upstream = {}
    credentials = {}
    for key, value in body.items():
        if key in CLIENT_CREDENTIAL_FIELDS:
            credentials[key] = value
        elif key == "metadata":
            if isinstance(value, dict):
                call.metadata = value
            else:
                call.metadata = {"value": value}
        elif key in GATEWAY_FIELDS:
            problem = option_problem(key, value)
            if problem:
                raise ClientError(problem, param=key)
            call.options[key] = value
        else:
            upstream[key] = value
    if credentials:
        call.credentials = credentials
    return upstream


async def decode(call: Call) -> None:
    """Parse and check an OpenAI request; nothing reaches an upstream for a request that fails here."""
    if call.form is not None:
        form = await call.form.get()
        decode_body(call, {k: v for k, v in form.multi_items()})
    else:
        decode_json(call)


def decode_json(call: Call) -> None:
    """`decode` for a JSON body: synchronous and touching only `call`, so a big body can run in a worker thread."""
    decode_body(call, parse_json_body(call.raw))


def decode_body(call: Call, body: dict) -> None:
    endpoint = call.endpoint
    model = body.get("model")
    if model is None:
        if endpoint not in MODEL_OPTIONAL:
            raise ClientError("missing required field 'model'", param="model")
    elif not isinstance(model, str) or not model:
        raise ClientError("'model' must be a non-empty string", param="model")
    for field in REQUIRED.get(endpoint, ()):
        if field not in body or body[field] is None:
            raise ClientError(f"missing required field {field!r}", param=field)
    check_body(endpoint, body)  # every field's JSON type: providers' translators rely on it
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ClientError("'stream' must be true or false", param="stream")
    call.body = set_aside(call, body)
    if call.body is body and call.form is None:
        call.raw_body = body  # untouched: a same-wire provider may forward `raw` as it arrived
    call.model = model
    call.stream = stream


def encode_error(err: GatewayError) -> bytes:
    return orjson.dumps({"error": error_object(err)})


def error_object(err: GatewayError) -> dict:
    return {"message": err.message, "type": err.type, "param": err.param, "code": err.code}


def failed_member(obj: object) -> orjson.Fragment:
    """orjson's `default` for a batch list: a failed member becomes its error envelope and model, scrubbed of
    secrets like every error a client sees (any other unknown object is the TypeError orjson would raise)."""
    if isinstance(obj, Failed):
        data = orjson.dumps({"error": error_object(obj.error), "model": obj.call.model})
        return orjson.Fragment(bytes_scrub(obj.call)(data))
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def add_response_ms(data: bytes, call: Call) -> bytes:
    """Splice `_response_ms` into a JSON object without re-serialising it (the seed's response shape)."""
    end = data.rfind(b"}")
    if end <= 0:
        return data
    import time

    ms = (time.perf_counter() - call.started) * 1000
    sep = b"" if data[:end].rstrip().endswith(b"{") else b","
    return data[:end] + sep + b'"_response_ms":%.3f}' % ms + data[end + 1:]


def encode(call: Call, reply: Reply) -> Reply:
    if reply.wire == "binary":
        return reply
    if reply.stream is not None:
        scrub = bytes_scrub(call)
        stream = guard_stream(reply.stream, scrub) if reply.wire == "openai" else encode_stream(reply.stream, scrub)
        return Reply(status=reply.status, stream=stream, wire="openai", media_type="text/event-stream",
                     headers={"cache-control": "no-cache", **reply.headers})
    if reply.raw is not None and reply.wire == "openai":
        data = reply.raw
    else:
        data = orjson.dumps(reply.canonical(), default=failed_member)
    if call.endpoint == "chat" and data[:1] == b"{":
        data = add_response_ms(data, call)
    return Reply(status=reply.status, raw=data, wire="openai", media_type="application/json", headers=reply.headers)


async def guard_stream(chunks: AsyncIterator[bytes], scrub: Callable[[bytes], bytes] = unchanged) -> AsyncIterator[bytes]:
    """Pass upstream SSE bytes through untouched but for an upstream's own error event, which is scrubbed of
    secrets; an error mid-stream becomes an in-band error event."""
    try:
        async for chunk in scrub_marked(chunks, ERROR_MARK, scrub):
            yield chunk
    except UpstreamError as err:
        yield b"\n\n" + scrub(frame({"error": error_object(err)}))


async def encode_stream(chunks: AsyncIterator[dict], scrub: Callable[[bytes], bytes] = unchanged) -> AsyncIterator[bytes]:
    """Canonical chunk dicts → OpenAI SSE, closed with [DONE]; an error mid-stream ends it in-band."""
    try:
        async for chunk in chunks:
            yield frame(chunk)
    except GatewayError as err:
        yield scrub(frame({"error": error_object(err)}))
        return
    yield DONE


class OpenAIDialect(DialectBase):
    """The registered dialect object."""

    name = "openai"
    wire = "openai"
    decode = staticmethod(decode)
    decode_json = staticmethod(decode_json)
    encode = staticmethod(encode)
    encode_error = staticmethod(encode_error)


register_dialect("openai", OpenAIDialect())
