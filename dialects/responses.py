"""The OpenAI Responses dialect (`POST /v1/responses`): Responses requests in, Responses objects and events out.

decode keeps the client's body in `call.native` (OpenAI's own Responses API takes it as it is: the provider
declares `native_wires = {"responses"}`) and puts the canonical chat body in `call.body`, switching the endpoint
to "chat" so every chat provider can serve the route. What only OpenAI can serve becomes `call.native_only`,
raised by provider_call when the router picked a deployment that translates. encode passes OpenAI's Responses
bytes through, or renders a canonical reply as a Response (docs/responses.md).
"""

from __future__ import annotations

import orjson

from dialects.openai import encode_error
from dialects.responses_decode import bad, to_canonical
from dialects.responses_encode import to_response
from dialects.responses_stream import encode_stream, guard_native
from kernel.bodies import parse_json_body, refuse_form
from kernel.call import Call, Reply
from kernel.guards.secrets import bytes_scrub
from kernel.params import CLIENT_CREDENTIAL_FIELDS, GATEWAY_FIELDS, option_problem
from kernel.plugins import DialectBase
from kernel.registry import register_dialect

_SPECIAL = (GATEWAY_FIELDS | CLIENT_CREDENTIAL_FIELDS) - {"metadata"}  # metadata is the Responses API's own too
_SSE_HEADERS = {"cache-control": "no-cache"}


def _set_aside(call: Call, body: dict) -> dict:
    """Gateway-only and credential fields out of the body; metadata stays (OpenAI keeps it) and is logged too."""
    meta = body.get("metadata")
    if isinstance(meta, dict):
        call.metadata = meta
    if _SPECIAL.isdisjoint(body):
        return body
    native: dict = {}
    credentials = {}
    for key, value in body.items():
        if key in CLIENT_CREDENTIAL_FIELDS:
            credentials[key] = value
        elif key in _SPECIAL:
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
    """Check and translate a Responses request; nothing reaches an upstream for a request that fails here."""
    refuse_form(call)
    decode_json(call)


def decode_json(call: Call) -> None:
    """`decode`, synchronous and touching only `call`, so a big body can be decoded in a worker thread."""
    body = parse_json_body(call.raw)
    native = _set_aside(call, body)
    stream = native.get("stream", False)
    decoded = to_canonical(native, stream=stream is True)
    call.native = native
    if native is body:
        call.raw_body = body  # untouched: OpenAI's Responses API may get `raw` as it arrived
    call.body = decoded.body
    call.native_only = decoded.native_only
    call.model = native["model"]
    call.stream = stream is True
    call.endpoint = "chat"  # every provider that serves chat can serve /v1/responses through translation


def encode(call: Call, reply: Reply) -> Reply:
    if reply.wire == "binary":
        return reply
    if reply.stream is not None:
        scrub = bytes_scrub(call)
        if reply.wire == "responses":
            stream = guard_native(reply.stream, scrub)
        else:
            stream = encode_stream(reply.canonical_stream(), call.native, call.model, scrub)
        return Reply(status=reply.status, stream=stream, wire="responses", media_type="text/event-stream",
                     headers={**_SSE_HEADERS, **reply.headers})
    if reply.raw is not None and reply.wire == "responses":
        data = reply.raw
    else:
        data = orjson.dumps(to_response(reply.canonical(), call.native, call.model))
    return Reply(status=reply.status, raw=data, wire="responses", media_type="application/json", headers=reply.headers)


class ResponsesDialect(DialectBase):
    """The registered dialect object."""

    name = "responses"
    wire = "responses"
    decode = staticmethod(decode)
    decode_json = staticmethod(decode_json)
    encode = staticmethod(encode)
    encode_error = staticmethod(encode_error)


register_dialect("responses", ResponsesDialect())
