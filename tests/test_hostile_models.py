"""Hostile model names behind wildcards: what a `*` captures ends up in upstream URL paths (Gemini, Vertex, Bedrock,
Azure), so a capture that could leave its path segment is refused before anything is sent."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.path_recorder import PathRecorder
from tests.servers import ServerThread


@pytest.fixture(scope="module")
def upstream():
    fake = PathRecorder()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def gateway_url(upstream, start_gateway):
    upstream.clear()
    config = {"model_list": [
        {"model_name": "gemini/*", "litellm_params": {"model": "gemini/*", "api_key": "gm-key-123456",
                                                      "api_base": upstream.url + "/v1beta"}},
        {"model_name": "vllm/*", "litellm_params": {"model": "hosted_vllm/*", "api_base": upstream.url + "/v1"}},
    ]}
    return start_gateway(config).url


HOSTILE = ["gemini/../../anything", "gemini/..", "gemini/x/../../y", "gemini/x?alt=1", "gemini/x#frag",
           "gemini/x%2F..%2Fy", "gemini/a\\..\\b", "gemini/x y", "gemini/x\ny", "gemini/./x", "vllm/../admin"]


@pytest.mark.parametrize("model", HOSTILE)
def test_a_wildcard_capture_that_could_leave_its_segment_is_refused(gateway_url, upstream, model):
    r = httpx.post(gateway_url + "/v1/chat/completions",
                   json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == "model" and err["code"] == "model_not_found"
    assert "cannot have" in err["message"]
    assert upstream.requests == []


@pytest.mark.parametrize(("model", "path"), [
    ("gemini/gemini-2.0-flash", "/v1beta/models/gemini-2.0-flash:generateContent"),
    ("vllm/meta-llama/Llama-3.1-8B-Instruct", "/v1/chat/completions"),
])
def test_ordinary_wildcard_names_still_reach_their_path(gateway_url, upstream, model, path):
    httpx.post(gateway_url + "/v1/chat/completions",
               json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
    assert [r["raw_path"] for r in upstream.requests] == [path]
