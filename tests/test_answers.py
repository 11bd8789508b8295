"""kernel/guards/answers.py on its own: the shape table, the light check for big bodies, and the SSE line check under
any chunking (hypothesis splits the bytes wherever it likes, as TCP and the upstream may)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.upstream import CHAT_EVENTS, MESSAGE_EVENTS
from kernel.errors import InvalidUpstreamResponse
from kernel.guards.answers import FULL_PARSE_MAX, StreamCheck, checked, checked_fast
from tests.fakes.chain import make_call, make_gateway

GW = make_gateway()
OPENAI_STREAM = b"".join(CHAT_EVENTS)
ANTHROPIC_STREAM = b"".join(MESSAGE_EVENTS)


def call(endpoint: str = "chat"):
    return make_call(GW, endpoint=endpoint)


@pytest.mark.parametrize(("wire", "endpoint", "good", "bad"), [
    ("openai", "chat", {"choices": []}, {"choices": "x"}),
    ("openai", "completions", {"choices": [{"text": "a"}]}, {"choice": []}),
    ("openai", "embeddings", {"data": [{"embedding": [0.1]}]}, {"data": {}}),
    ("openai", "moderations", {"results": []}, {"results": None}),
    ("openai", "images", {"data": [{"b64_json": "AA=="}]}, {}),
    ("openai", "transcriptions", {"text": "hello"}, {"text": 1}),
    ("anthropic", "chat", {"type": "message", "content": []}, {"type": "error", "content": []}),
    ("anthropic", "chat", {"type": "message", "content": []}, {"type": "message", "content": "x"}),
    ("anthropic", "count_tokens", {"input_tokens": 3}, {"input_tokens": True}),
])
def test_each_endpoint_checks_its_top_level_key(wire, endpoint, good, bad):
    assert checked(call(endpoint), orjson.dumps(good), wire) == good
    with pytest.raises(InvalidUpstreamResponse) as info:
        checked(call(endpoint), orjson.dumps(bad), wire)
    assert info.value.status == 502 and info.value.code == "invalid_upstream_response"


@pytest.mark.parametrize(("data", "what"), [
    (b"", "an empty body"), (b"  \n", "an empty body"), (b"<html></html>", "not JSON"), (b"[1,2,3]", "array"),
    (b'"text"', "string"), (b"null", "null"), (b'{"choices": [', "not JSON"),
])
def test_what_is_no_json_object_says_what_it_is(data, what):
    with pytest.raises(InvalidUpstreamResponse, match=what):
        checked(call(), data, "openai")


def test_an_unknown_endpoint_or_wire_needs_only_a_json_object():
    assert checked(call("speech"), b'{"a": 1}', "openai") == {"a": 1}
    assert checked(call(), b'{"a": 1}', "gemini") == {"a": 1}


def test_past_the_full_parse_limit_the_check_is_light_and_keeps_nothing():
    pad = b" " * FULL_PARSE_MAX
    big = b'{"object": "list", "data": [' + pad + b"]}\n"
    assert checked_fast(call("embeddings"), big, "openai") is None  # valid; no parsed copy is kept
    assert checked_fast(call("embeddings"), b'{"data": []}', "openai") == {"data": []}  # small: parsed in full
    for bad in (b"<html>" + pad + b"</html>", b'{"choices": [' + pad + b"]}", b'{"data": [' + pad):
        with pytest.raises(InvalidUpstreamResponse):
            checked_fast(call("embeddings"), bad, "openai")


def feed(data: bytes, cuts: list[int], *, done_ok: bool) -> None:
    check = StreamCheck(call(), done_ok=done_ok)
    pos = 0
    for cut in [*sorted(cuts), len(data)]:
        check.feed(data[pos:cut])
        pos = cut
    check.end_of_stream()


cuts = st.lists(st.integers(min_value=0, max_value=len(OPENAI_STREAM)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(cuts=cuts, crlf=st.booleans())
def test_a_valid_stream_passes_however_it_is_cut(cuts, crlf):
    data = OPENAI_STREAM.replace(b"\n", b"\r\n") if crlf else OPENAI_STREAM
    feed(data, [c % (len(data) + 1) for c in cuts], done_ok=True)
    feed(ANTHROPIC_STREAM, [c % (len(ANTHROPIC_STREAM) + 1) for c in cuts], done_ok=False)
    feed(b": keep-alive\nid: 7\nretry: 100\n" + OPENAI_STREAM, [], done_ok=True)


BAD_LINES = [b"garbage\n", b"<html>\n", b"data: {not json\n", b"data: [1, 2]\n", b"data: not json}\n",
             b"data: [DONE]x\n", b"data:\n", b"{\"choices\": []}\n"]


@settings(max_examples=300, deadline=None)
@given(cuts=cuts, bad=st.sampled_from(BAD_LINES), at=st.integers(min_value=0, max_value=len(CHAT_EVENTS)))
def test_a_bad_line_anywhere_fails_however_it_is_cut(cuts, bad, at):
    data = b"".join([*CHAT_EVENTS[:at], bad, b"\n", *CHAT_EVENTS[at:]])
    with pytest.raises(InvalidUpstreamResponse):
        feed(data, [c % (len(data) + 1) for c in cuts], done_ok=True)


def test_done_is_the_openai_wires_end_only_and_an_unterminated_bad_tail_fails():
    with pytest.raises(InvalidUpstreamResponse):
        feed(b"data: [DONE]\n\n", [], done_ok=False)
    with pytest.raises(InvalidUpstreamResponse):
        feed(OPENAI_STREAM + b"trailing garbage", [len(OPENAI_STREAM) + 3], done_ok=True)


def test_a_long_line_is_carried_without_holding_it():
    check = StreamCheck(call(), done_ok=True)
    check.feed(b'data: {"x": "')
    for _ in range(1000):
        check.feed(b"a" * 4096)
        assert len(check.head) <= 16 and len(check.end) <= 2  # nothing of the 4 MB line is kept
    check.feed(b'"}\n\n')
    check.end_of_stream()
