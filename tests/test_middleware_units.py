"""Unit tests of the kernel's own middlewares and chain folding, each with a fake `next`."""

from __future__ import annotations

import orjson
import pytest

from kernel.call import Reply
from kernel.errors import AuthError, ClientError, InvalidUpstreamResponse
from kernel.pipeline import fold
from middleware.auth import Auth
from middleware.decode import DialectDecode
from middleware.encode import DialectEncode
from middleware.normalize import ResponseNormalize
from tests.fakes.chain import RecordingNext, make_call, make_gateway

MASTER = "sk-master-0123456789abcdef"  # strong enough to start with
KEYED = {"general_settings": {"master_key": MASTER}}


async def test_auth_accepts_each_header_style():
    gw = make_gateway(KEYED)
    auth = Auth(None, gw)
    for headers in ({"authorization": f"Bearer {MASTER}"}, {"api-key": MASTER}, {"x-api-key": MASTER}):
        nxt = RecordingNext()
        await auth(make_call(gw, headers=headers), nxt)
        assert len(nxt.calls) == 1
        assert nxt.calls[0].identity == "master"


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"}, {"x-api-key": "sk-maste"}])
async def test_auth_refuses_missing_or_wrong_key_without_calling_next(headers):
    gw = make_gateway(KEYED)
    nxt = RecordingNext()
    with pytest.raises(AuthError) as info:
        await Auth(None, gw)(make_call(gw, headers=headers), nxt)
    assert info.value.status == 401
    assert nxt.calls == []


async def test_auth_is_open_without_master_key():
    gw = make_gateway()
    nxt = RecordingNext()
    await Auth(None, gw)(make_call(gw), nxt)
    assert nxt.calls[0].identity is None


async def test_decode_sets_aside_gateway_fields_and_credentials():
    gw = make_gateway()
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "metadata": {"trace_id": "t1"},
            "fallbacks": ["other"], "api_key": "sk-user", "temperature": 0.5}
    nxt = RecordingNext()
    await DialectDecode(None, gw)(make_call(gw, orjson.dumps(body)), nxt)
    call = nxt.calls[0]
    assert call.body == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5}
    assert call.metadata == {"trace_id": "t1"}
    assert call.options["fallbacks"] == ["other"]
    assert call.credentials == {"api_key": "sk-user"}
    assert call.raw_body is None  # the body changed, so the raw bytes may not be forwarded as they are


async def test_decode_keeps_untouched_body_for_the_fast_path():
    gw = make_gateway()
    raw = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    nxt = RecordingNext()
    await DialectDecode(None, gw)(make_call(gw, raw), nxt)
    call = nxt.calls[0]
    assert call.body is call.raw_body
    assert call.stream is True and call.model == "m"


@pytest.mark.parametrize(("raw", "endpoint", "message"), [
    (b"", "chat", "request body is empty"),
    (b"{not json", "chat", "request body is not valid JSON"),
    (b"[1, 2]", "chat", "request body must be a JSON object"),
    (b'{"messages": [{"role": "user", "content": "x"}]}', "chat", "missing required field 'model'"),
    (b'{"model": "m"}', "chat", "missing required field 'messages'"),
    (b'{"model": "m", "messages": []}', "chat", "'messages' must be a non-empty array"),
    (b'{"model": "m", "messages": [{"content": "x"}]}', "chat", "messages[0].role is missing"),
    (b'{"model": "m", "messages": [{"role": "robot", "content": "x"}]}', "chat", "messages[0].role is 'robot'"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "chat", "'stream' must be"),
    (b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}', "chat", "'model' must be a non-empty string"),
    (b'{"model": "m"}', "embeddings", "missing required field 'input'"),
    (b'{"model": "m", "input": "x"}', "speech", "missing required field 'voice'"),
])
async def test_decode_rejects_bad_requests_naming_the_problem(raw, endpoint, message):
    gw = make_gateway()
    nxt = RecordingNext()
    with pytest.raises(ClientError) as info:
        await DialectDecode(None, gw)(make_call(gw, raw, endpoint=endpoint), nxt)
    assert message in info.value.message
    assert info.value.status == 400
    assert nxt.calls == []


async def test_decode_allows_missing_model_where_openai_does():
    gw = make_gateway()
    nxt = RecordingNext()
    await DialectDecode(None, gw)(make_call(gw, b'{"input": "x"}', endpoint="moderations"), nxt)
    assert nxt.calls[0].model is None


async def test_encode_passes_same_wire_bytes_through_and_adds_response_ms():
    gw = make_gateway()
    raw = b'{"id": "x", "object": "chat.completion"}'
    nxt = RecordingNext(Reply(raw=raw, wire="openai"))
    call = make_call(gw)
    out = await DialectEncode(None, gw)(call, nxt)
    parsed = orjson.loads(out.raw)
    assert parsed["id"] == "x"
    assert isinstance(parsed["_response_ms"], float)


async def test_encode_serialises_canonical_stream_as_sse_with_done():
    gw = make_gateway()

    async def chunks():
        yield {"id": "c", "choices": []}

    nxt = RecordingNext(Reply(stream=chunks()))
    out = await DialectEncode(None, gw)(make_call(gw), nxt)
    frames = [f async for f in out.stream]
    assert frames == [b'data: {"id":"c","choices":[]}\n\n', b"data: [DONE]\n\n"]
    assert out.media_type == "text/event-stream"


async def test_normalize_decodes_foreign_wire_and_leaves_same_wire_alone():
    gw = make_gateway()
    foreign = Reply(raw=b"ignored", wire="other", decode=lambda data: {"decoded": True})
    out = await ResponseNormalize(None, gw)(make_call(gw), RecordingNext(foreign))
    assert out.body == {"decoded": True} and out.raw is None and out.wire is None
    same = Reply(raw=b'{"choices": []}', wire="openai")
    out = await ResponseNormalize(None, gw)(make_call(gw), RecordingNext(same))
    assert out.raw == b'{"choices": []}' and out.body is None
    assert out.parsed == {"choices": []}  # checked (a chat completion has a "choices" list) and kept, parsed once
    with pytest.raises(InvalidUpstreamResponse):
        await ResponseNormalize(None, gw)(make_call(gw), RecordingNext(Reply(raw=b'{"a": 1}', wire="openai")))


async def test_fold_runs_outermost_first_and_unwinds_in_reverse():
    seen = []

    class Mark:
        def __init__(self, name):
            self.name = name

        async def __call__(self, call, next):
            seen.append(f"{self.name}>")
            reply = await next(call)
            seen.append(f"<{self.name}")
            return reply

    class Answer:
        async def __call__(self, call, next):
            seen.append("answer")
            return Reply(body=1)

    handler = fold([Mark("a"), Mark("b"), Answer()])
    reply = await handler(make_call(make_gateway()))
    assert reply.body == 1
    assert seen == ["a>", "b>", "answer", "<b", "<a"]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("request_timeout", "soon", "'request_timeout' must be a number of seconds greater than 0"),
    ("request_timeout", 0, "'request_timeout' must be a number of seconds greater than 0"),
    ("num_retries", -1, "'num_retries' must be a whole number >= 0"),
    ("drop_params", "yes", "'drop_params' must be true or false"),
    ("additional_drop_params", "tools", "'additional_drop_params' must be an array of strings"),
])
async def test_decode_checks_typed_gateway_fields(field, value, message):
    gw = make_gateway()
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], field: value}
    nxt = RecordingNext()
    with pytest.raises(ClientError) as info:
        await DialectDecode(None, gw)(make_call(gw, orjson.dumps(body)), nxt)
    assert info.value.message == message
    assert info.value.param == field
    assert nxt.calls == []


async def test_anthropic_decode_checks_typed_gateway_fields_too():
    gw = make_gateway()
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "request_timeout": "x"}
    nxt = RecordingNext()
    with pytest.raises(ClientError) as info:
        await DialectDecode(None, gw)(make_call(gw, orjson.dumps(body), dialect="anthropic"), nxt)
    assert info.value.message == "request_timeout: must be a number of seconds greater than 0"
    assert nxt.calls == []
