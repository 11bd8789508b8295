"""A fake Bedrock runtime (Converse, ConverseStream, InvokeModel) and Sagemaker runtime on loopback.

It refuses any request without a well-formed SigV4 `Authorization` header, and re-derives the signature
from the bytes it received with botocore and the known test secret, so a request whose signed path,
headers or body differ from what went over the wire is refused with Bedrock's own 403 error.
Streams are real AWS event-stream frames (see `frame`), cut into small pieces to exercise reassembly.
"""

from __future__ import annotations

import asyncio
import re
import struct
import zlib

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

ACCESS_KEY = "AKIDRELAYKITTEST"
SECRET_KEY = "relaykit-test-secret-key"
AUTH_SHAPE = re.compile(r"AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
                        r"(?P<service>[a-z-]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
                        r"Signature=(?P<sig>[0-9a-f]{64})")


def _header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v  # type 7: string


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (lengths + CRC32), string headers, payload, message CRC32."""
    block = b"".join(_header(k, v) for k, v in headers.items())
    prelude = struct.pack(">II", 12 + len(block) + len(payload) + 4, len(block))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + block + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(kind: str, body: dict) -> bytes:
    return frame({":event-type": kind, ":content-type": "application/json", ":message-type": "event"},
                 orjson.dumps(body))


def exception(kind: str, message: str) -> bytes:
    return frame({":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"},
                 orjson.dumps({"message": message}))


def aws_error(status: int, kind: str, message: str) -> Response:
    return Response(orjson.dumps({"message": message}), status_code=status, media_type="application/json",
                    headers={"x-amzn-errortype": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"})


def check_signature(request: Request, body: bytes) -> str | None:
    """Why the request's SigV4 signature is wrong, or None when it verifies."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    match = AUTH_SHAPE.fullmatch(request.headers.get("authorization", ""))
    if match is None:
        return "missing or malformed SigV4 Authorization header"
    if match["key"] != ACCESS_KEY:
        return "unknown access key"
    amz_date = request.headers.get("x-amz-date", "")
    if not amz_date.startswith(match["date"]):
        return "x-amz-date does not match the credential scope"
    signed = match["signed"].split(";")
    headers = {name: request.headers.get(name, "") for name in signed}
    raw_path = request.scope["raw_path"].decode()
    query = request.scope["query_string"].decode()
    url = f"http://{request.headers['host']}{raw_path}" + (f"?{query}" if query else "")
    aws = AWSRequest(method=request.method, url=url, data=body, headers=headers)
    aws.context["timestamp"] = amz_date
    auth = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, request.headers.get("x-amz-security-token")),
                     match["service"], match["region"])
    canonical = auth.canonical_request(aws)
    expected = auth.signature(auth.string_to_sign(aws, canonical), aws)
    return None if expected == match["sig"] else "signature does not match"


def _last_text(messages: list) -> str:
    for block in reversed(messages[-1]["content"]):
        if "text" in block:
            return block["text"]
        if "toolResult" in block:
            return "tool said " + orjson.dumps(block["toolResult"]["content"]).decode()
    return ""


class FakeBedrock:
    """The fake's state; `app` is the ASGI app to serve. The model id is the cue: `throttled` answers 429,
    `stream-throttled` breaks its stream with a throttlingException event."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.app = Starlette(routes=[
            Route("/model/{model:path}/converse", self.converse, methods=["POST"]),
            Route("/model/{model:path}/converse-stream", self.converse_stream, methods=["POST"]),
            Route("/model/{model:path}/invoke", self.invoke, methods=["POST"]),
            Route("/endpoints/{name}/invocations", self.sagemaker, methods=["POST"]),
        ])

    def clear(self) -> None:
        self.requests.clear()

    async def _receive(self, request: Request) -> tuple[dict | None, Response | None]:
        raw = await request.body()
        self.requests.append({"path": request.scope["raw_path"].decode(), "headers": dict(request.headers),
                              "body": orjson.loads(raw) if raw else None})
        problem = check_signature(request, raw)
        if problem is not None:
            return None, aws_error(403, "InvalidSignatureException", problem)
        return self.requests[-1]["body"], None

    def answer(self, body: dict) -> tuple[list[dict], str]:
        tools = (body.get("toolConfig") or {}).get("tools") or []
        last = body["messages"][-1]["content"]
        if tools and not any("toolResult" in b for b in last):
            spec = tools[0]["toolSpec"]
            return [{"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": spec["name"],
                                 "input": {"location": "Boston, MA"}}}], "tool_use"
        return [{"text": "echo: " + _last_text(body["messages"])}], "end_turn"

    async def converse(self, request: Request) -> Response:
        body, refused = await self._receive(request)
        if refused is not None:
            return refused
        if request.path_params["model"] == "throttled":
            return aws_error(429, "ThrottlingException", "Too many requests, please wait before trying again.")
        content, stop = self.answer(body)
        return Response(orjson.dumps({
            "output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
            "usage": {"inputTokens": 12, "outputTokens": 6, "totalTokens": 18}, "metrics": {"latencyMs": 321}}),
            media_type="application/json")

    async def converse_stream(self, request: Request) -> Response:
        body, refused = await self._receive(request)
        if refused is not None:
            return refused
        content, stop = self.answer(body)
        frames = [event("messageStart", {"role": "assistant", "p": "abcdefghijkl"})]
        block = content[0]
        if "toolUse" in block:
            tu = block["toolUse"]
            frames.append(event("contentBlockStart", {"contentBlockIndex": 0, "start": {
                "toolUse": {"toolUseId": tu["toolUseId"], "name": tu["name"]}}, "p": "abcd"}))
            args = orjson.dumps(tu["input"]).decode()
            for piece in (args[:7], args[7:]):
                frames.append(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": piece}},
                                                          "p": "ab"}))
        else:
            for i, word in enumerate(block["text"].split(" ")):
                frames.append(event("contentBlockDelta", {"contentBlockIndex": 0,
                                                          "delta": {"text": (" " if i else "") + word}, "p": "abc"}))
        frames.append(event("contentBlockStop", {"contentBlockIndex": 0, "p": "abcdef"}))
        if request.path_params["model"] == "stream-throttled":
            frames.append(exception("throttlingException", "Too many tokens, please wait before trying again."))
        else:
            frames.append(event("messageStop", {"stopReason": stop, "p": "abcdefghij"}))
            frames.append(event("metadata", {"usage": {"inputTokens": 12, "outputTokens": 6, "totalTokens": 18},
                                             "metrics": {"latencyMs": 400}, "p": "abc"}))
        data = b"".join(frames)

        async def pieces():
            for i in range(0, len(data), 50):  # frame boundaries fall mid-chunk, as on a real network
                yield data[i:i + 50]
                await asyncio.sleep(0)

        return StreamingResponse(pieces(), media_type="application/vnd.amazon.eventstream")

    async def invoke(self, request: Request) -> Response:
        body, refused = await self._receive(request)
        if refused is not None:
            return refused
        if "inputText" in body:
            dims = body.get("dimensions", 4)
            return Response(orjson.dumps({"embedding": [0.25] * dims, "inputTextTokenCount": 3}),
                            media_type="application/json")
        return Response(orjson.dumps({"id": "emb-1", "response_type": "embeddings_floats", "texts": body["texts"],
                                      "embeddings": [[0.5, -0.5] for _ in body["texts"]]}),
                        media_type="application/json")

    async def sagemaker(self, request: Request) -> Response:
        body, refused = await self._receive(request)
        if refused is not None:
            return refused
        return Response(orjson.dumps({"embedding": [[0.125, 0.5, -1.0] for _ in body["text_inputs"]]}),
                        media_type="application/json")
