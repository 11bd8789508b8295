"""Hostile paths on the pass-through routes: no encoding of `..`, `/`, `\\` or a control character gets a request
(with the upstream key) anywhere but under the route's own prefix.

The real gateway sits in front of one recording upstream that serves both an OpenAI deployment (at /v1) and a
Vertex deployment (at /), and answers every path on the host, so an escape would show in its record. Requests go
out over raw sockets, byte for byte: an HTTP client would normalise the very paths under test.
"""

from __future__ import annotations

import http.client
import posixpath
import socket
from urllib.parse import parse_qs, unquote

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes.path_recorder import PathRecorder
from tests.servers import ServerThread, gateway

MASTER = "sk-relaykit-hostile-paths-0001"
UPSTREAM_KEY = "sk-upstream-openai-0001"
VERTEX_TOKEN = "ya29.vertex-token-0001"
GEMINI = "v1/projects/p/locations/us-central1/publishers/google/models/gemini-pro:generateContent"

# Every pass-through prefix in pipelines.yaml (the `forward` chain's routes and /vertex_ai), and a deeper one.
FORWARD_PREFIXES = [f"{v}/{api}" for v in ("/v1", "") for api in
                    ("files", "batches", "fine_tuning/jobs", "assistants", "threads", "responses")]
PREFIXES = [*FORWARD_PREFIXES, "/v1/threads/t1/messages", "/vertex_ai", "/vertex-ai",
            "/vertex_ai/v1/projects/p/locations/us-central1"]

# Appended to "<prefix>/". Each must be refused with a 400 and send nothing upstream.
HOSTILE = [
    "..%2F..%2Fanything", "..%2f..%2fanything", "%2e%2e/%2e%2e/anything", "%2E%2E/anything", "%2e%2E/anything",
    "%2E%2E%2Fanything", "%252e%252e%252fanything", "%252E%252E/anything", "..%252Fanything",
    "%25%32%65%25%32%65/anything", "..%5C..%5Canything", "..%5canything", ".%2e/anything", "%2e./anything",
    "./anything", "../anything", "../../../anything", "..", ".", "%2e", "%2e%2e", "x/..", "x/.", "x/%2e%2e",
    "x/../../anything", "/anything", "x//y", "a%00b", "%00", "a%0d%0aX-Injected:%201", "a%09b", "a%7f",
    "..\\..\\anything", "a\\b", "a%2Fb", "a%2fb", "a%5Cb", "..;/anything", "%2e%2e;x/anything",
    "%c0%ae%c0%ae/anything",  # overlong UTF-8 for '.', which some decoders accept
]


@pytest.fixture(scope="module")
def upstream():
    fake = PathRecorder()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture(scope="module")
def gw(upstream, tmp_path_factory):
    config = {"general_settings": {"master_key": MASTER}, "model_list": [
        {"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o", "api_base": upstream.url + "/v1",
                                                    "api_key": UPSTREAM_KEY}},
        {"model_name": "gemini-pro", "litellm_params": {"model": "vertex_ai/gemini-pro", "api_base": upstream.url,
                                                        "api_key": VERTEX_TOKEN, "vertex_project": "p",
                                                        "vertex_location": "us-central1"}},
    ]}
    with gateway(config, tmp_path_factory.mktemp("hostile-paths")) as server:
        yield server


@pytest.fixture
def recorder(upstream):
    upstream.clear()
    return upstream


def send(gw, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request with `target` on the request line exactly as given (like curl --path-as-is, and more)."""
    head = (f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {MASTER}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + body)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        return response.status, response.read()


def assert_refused(status: int, body: bytes) -> None:
    assert status == 400, body
    err = orjson.loads(body)["error"]
    assert err["type"] == "invalid_request_error"
    assert err["code"] == "invalid_path"
    assert err["message"].startswith(("the request path", "the query string"))
    assert UPSTREAM_KEY.encode() not in body and VERTEX_TOKEN.encode() not in body


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("variant", HOSTILE)
def test_hostile_path_is_refused_before_anything_goes_upstream(gw, recorder, prefix, variant):
    status, body = send(gw, "GET", f"{prefix}/{variant}")
    assert_refused(status, body)
    assert recorder.requests == []


@pytest.mark.parametrize(("method", "target"), [
    ("POST", "/v1/files/..%2F..%2Fanything"), ("DELETE", "/v1/files/..%2F..%2Fanything"),
    ("POST", "/v1/batches/%2e%2e/anything"), ("DELETE", "/v1/assistants/asst_1/%2e%2e"),
    ("POST", "/vertex_ai/..%2F" + GEMINI), ("POST", "/vertex-ai/%2e%2e/%2e%2e/" + GEMINI),
])
def test_other_methods_are_refused_too(gw, recorder, method, target):
    status, body = send(gw, method, target, b'{"model": "gpt-4o"}')
    assert_refused(status, body)
    assert recorder.requests == []


@pytest.mark.parametrize(("target", "path", "query"), [
    ("/v1/files", "/v1/files", ""),
    ("/v1/files/", "/v1/files", ""),
    ("/v1/files/file-abc", "/v1/files/file-abc", ""),
    ("/v1/files/file-abc/content", "/v1/files/file-abc/content", ""),
    ("/files/file-abc", "/v1/files/file-abc", ""),
    ("/v1/threads/t1/messages?limit=2", "/v1/threads/t1/messages", "limit=2"),
    ("/v1/fine_tuning/jobs/ftjob-1/events?limit=5&after=ev_1", "/v1/fine_tuning/jobs/ftjob-1/events", "limit=5&after=ev_1"),
    ("/v1/batches/batch_1", "/v1/batches/batch_1", ""),
    ("/v1/assistants/asst_1", "/v1/assistants/asst_1", ""),
    ("/v1/responses/resp_1/input_items", "/v1/responses/resp_1/input_items", ""),
    ("/v1/files/name..with.dots", "/v1/files/name..with.dots", ""),  # dots inside a name are no dot segment
    ("/v1/files/file%20abc", "/v1/files/file%20abc", ""),  # re-quoted, so the upstream decodes the same name
    ("/v1/files/caf%C3%A9", "/v1/files/caf%C3%A9", ""),
    ("/v1/files/%66ile-abc", "/v1/files/file-abc", ""),  # an escape of a plain letter is just the letter
])
def test_legitimate_paths_reach_exactly_their_upstream_path(gw, recorder, target, path, query):
    status, body = send(gw, "GET", target)
    assert status == 200, body
    assert orjson.loads(body) == {"object": "recorded"}
    [sent] = recorder.requests
    assert (sent["method"], sent["raw_path"], sent["query"]) == ("GET", path, query)
    assert sent["headers"]["authorization"] == "Bearer " + UPSTREAM_KEY  # the gateway key swapped for the upstream's


@pytest.mark.parametrize("prefix", ["/vertex_ai", "/vertex-ai"])
def test_legitimate_vertex_path_reaches_exactly_its_upstream_path(gw, recorder, prefix):
    status, body = send(gw, "POST", f"{prefix}/{GEMINI}?alt=sse", b'{"contents": []}')
    assert status == 200, body
    [sent] = recorder.requests
    assert (sent["method"], sent["raw_path"], sent["query"]) == ("POST", "/" + GEMINI, "alt=sse")
    assert sent["headers"]["authorization"] == "Bearer " + VERTEX_TOKEN
    assert sent["body"] == b'{"contents": []}'


@pytest.mark.parametrize("location", ["evil.example%23", "evil.example%3Fx=", "us-central1@evil.example",
                                      "US-CENTRAL1", "evil.example"])
def test_vertex_location_must_be_a_region(gw, recorder, location):
    # Without an api_base the location is spliced into the host name (https://{location}-aiplatform...), so
    # `evil.example#` would send the Vertex token to evil.example.
    status, body = send(gw, "POST", f"/vertex_ai/v1/projects/p/locations/{location}/publishers/google/models/"
                                    "gemini-pro:generateContent", b"{}")
    assert status == 400, body
    err = orjson.loads(body)["error"]
    assert err["code"] == "invalid_path" and "is not a Vertex AI location" in err["message"]
    assert recorder.requests == []


def test_query_cannot_reach_the_path_or_add_parameters(gw, recorder):
    status, body = send(gw, "GET", "/v1/threads/t1/messages?limit=2&after=..%2F..%2Fanything"
                                   "&q=%23frag%3Fz%26admin%3D1%2F..")
    assert status == 200, body
    [sent] = recorder.requests
    assert sent["raw_path"] == "/v1/threads/t1/messages"
    assert parse_qs(sent["query"]) == {"limit": ["2"], "after": ["../../anything"], "q": ["#frag?z&admin=1/.."]}


@pytest.mark.parametrize("query", ["limit=%00", "a=b%0d%0aX-Injected:%201", "x%0a=1"])
def test_control_characters_in_the_query_are_refused(gw, recorder, query):
    status, body = send(gw, "GET", "/v1/files?" + query)
    assert_refused(status, body)
    assert recorder.requests == []


# Random paths made of the pieces traversals are built from: whatever the mix, the answer is a refusal that
# sent nothing, or an upstream request under the prefix whose path no decoding turns into a climb.
_PIECES = st.sampled_from(["a", "b", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "%25", "2e", "\\", "/", ";",
                           "%00", "%c0%ae", "file-abc", ":"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, min_size=1, max_size=8))
def test_no_random_mix_escapes_the_prefix(gw, upstream, pieces):
    upstream.clear()
    status, body = send(gw, "GET", "/v1/files/" + "".join(pieces))
    if status == 400:
        assert orjson.loads(body)["error"]["code"] == "invalid_path"
        assert upstream.requests == []
        return
    assert status == 200, body
    [sent] = upstream.requests
    path = sent["raw_path"]
    assert path.startswith("/v1/files")
    for decoded in (path, unquote(path), unquote(unquote(path))):
        segments = decoded.split("/")
        assert "." not in segments and ".." not in segments and "\\" not in decoded
        assert posixpath.normpath(decoded).startswith("/v1/files")
