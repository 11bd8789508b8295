"""The helpers providers share (providers/shared/): content parts, error bodies, embeddings, reply fields."""

from __future__ import annotations

import base64
import struct

import pytest

from kernel.call import Call
from kernel.errors import ClientError, ContextWindowExceeded, RateLimited, UpstreamUnavailable
from kernel.models import Deployment
from providers.shared.content_parts import OCTET_STREAM, DataURL, data_url, image_url, parts, text_of
from providers.shared.embeddings import embedding_list, embedding_texts
from providers.shared.error_body import SNIPPET, classify, error_json, status_message
from providers.shared.replies import created_at, model_of

D = Deployment(id="dep-1", model_name="m", provider="openai", upstream_model="gpt-x", api_key="sk-secret")


@pytest.mark.parametrize(("url", "parsed"), [
    ("data:image/png;base64,iVBORw0K", DataURL("image/png", True, "iVBORw0K")),
    ("data:text/plain;charset=utf-8;base64,QQ==", DataURL("text/plain", True, "QQ==")),  # RFC 2397: params first
    ("data:,hello%20world", DataURL(OCTET_STREAM, False, "hello%20world")),
    ("data:image/png,rawbytes", DataURL("image/png", False, "rawbytes")),
    ("data:image/png;base64", DataURL("image/png", False, "")),  # no comma: no payload, so not base64 data
    ("https://example.com/cat.png", None),
])
def test_data_url(url, parsed):
    assert data_url(url) == parsed


@pytest.mark.parametrize(("content", "expected"), [
    (None, []),
    ("", []),
    ("hi", [{"type": "text", "text": "hi"}]),
    ([{"type": "text", "text": "a"}, "stray", 3, {"type": "image_url", "image_url": {"url": "u"}}],
     [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "u"}}]),
    (42, []),
])
def test_parts(content, expected):
    assert parts(content) == expected


def test_text_of_joins_only_text_parts():
    content = [{"type": "text", "text": "one"}, {"type": "image_url", "image_url": "u"}, {"type": "text", "text": "two"}]
    assert text_of(content) == "onetwo"
    assert text_of(content, " ") == "one two"
    assert text_of("as is") == "as is"
    assert text_of(None) == ""


@pytest.mark.parametrize(("part", "url"), [
    ({"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "low"}}, "https://x/a.png"),
    ({"type": "image_url", "image_url": "https://x/b.png"}, "https://x/b.png"),  # older clients send a bare string
    ({"type": "image_url", "image_url": {"url": None}}, ""),
    ({"type": "image_url"}, ""),
])
def test_image_url(part, url):
    assert image_url(part) == url


@pytest.mark.parametrize(("data", "parsed"), [
    (b"", None), (b"<html>502 Bad Gateway</html>", None), (b'{"error": "x"}', {"error": "x"}), (b"[1]", [1]),
])
def test_error_json_is_tolerant(data, parsed):
    assert error_json(data) == parsed


def test_status_message_quotes_the_start_of_the_body():
    assert status_message(500, b"") == "upstream answered HTTP 500"
    assert status_message(502, b"  <html>bad gateway</html>\n", "ollama") == "ollama answered HTTP 502: <html>bad gateway</html>"
    assert status_message(503, b"x" * 1000) == "upstream answered HTTP 503: " + "x" * SNIPPET


def test_classify_reads_wording_below_500_and_status_above():
    err = classify(400, "This model's maximum context length is 8192 tokens", None, D, {})
    assert type(err) is ContextWindowExceeded and err.status == 400 and err.deployment == "dep-1"
    limited = classify(429, "maximum context length", None, D, {"retry-after": "2"})
    assert type(limited) is RateLimited and limited.retry_after == 2.0  # a 429 stays a rate limit, whatever it says
    assert type(classify(503, "overloaded", None, D, None)) is UpstreamUnavailable
    assert "sk-secret" not in err.message


def test_embedding_texts():
    assert embedding_texts({"input": "one"}) == ["one"]
    assert embedding_texts({"input": ("a", "b")}) == ["a", "b"]
    with pytest.raises(ClientError) as info:
        embedding_texts({"input": [[1, 2, 3]]})
    assert info.value.param == "input" and info.value.status == 400


def test_embedding_list_floats_and_base64():
    vectors = [[0.5, -0.25], [1.0, 0.0]]
    floats = embedding_list(vectors, "emb", 7, None)
    assert floats == {"object": "list", "model": "emb", "usage": {"prompt_tokens": 7, "total_tokens": 7},
                      "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]},
                               {"object": "embedding", "index": 1, "embedding": [1.0, 0.0]}]}
    packed = embedding_list(vectors, "emb", 7, "base64")["data"]
    assert [list(struct.unpack("<2f", base64.b64decode(d["embedding"]))) for d in packed] == vectors


def test_reply_fields():
    call = Call(id="c", route="chat", endpoint="chat", dialect="openai", model="client-name")
    assert model_of(call) == "client-name" and created_at(call) == 0  # a Call that never arrived: reproducible
    call.deployment, call.started = D, 1.0
    assert model_of(call) == "gpt-x" and created_at(call) > 1_600_000_000
