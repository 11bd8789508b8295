"""End-to-end: Vertex AI through relaykit with service-account credentials (a fake token endpoint signs them
off), and the `/vertex_ai/{path}` pass-through that swaps the gateway key for a Vertex token."""

from __future__ import annotations

import json

import httpx
import openai
import orjson
import pytest

from kernel.config import build_deployment
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.google_token import FakeGoogleToken
from tests.servers import ServerThread

GATEWAY_KEY = "sk-gateway-0123456789abcdef"
MODEL_PATH = "v1/projects/relaykit-proj/locations/us-central1/publishers/google/models/gemini-2.0-flash"


@pytest.fixture(scope="module")
def google():
    token = FakeGoogleToken()
    vertex = FakeGemini(tokens=token.issued)
    with ServerThread(token.app) as token_server, ServerThread(vertex.app) as vertex_server:
        token.url, vertex.url = token_server.url, vertex_server.url
        yield token, vertex


@pytest.fixture
def gateway(google, start_gateway, tmp_path):
    token, vertex = google
    token.grants.clear()
    vertex.clear()
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(token.service_account(project="file-project")))
    stranger = {**token.service_account(), "private_key": FakeGoogleToken().private_pem}  # a key Google never issued
    common = {"api_base": vertex.url}
    config = {"general_settings": {"master_key": GATEWAY_KEY}, "model_list": [
        {"model_name": "vertex-flash", "litellm_params": {
            "model": "vertex_ai/gemini-2.0-flash", "vertex_credentials": token.service_account(),
            "vertex_project": "relaykit-proj", "vertex_location": "us-central1", **common}},
        {"model_name": "vertex-from-file", "litellm_params": {
            "model": "vertex_ai/gemini-2.0-flash", "vertex_credentials": str(key_file),
            "vertex_location": "europe-west1", **common}},
        {"model_name": "vertex-json-string", "litellm_params": {
            "model": "vertex_ai/text-embedding-005", "vertex_credentials": json.dumps(token.service_account()),
            "vertex_project": "relaykit-proj", **common}},
        {"model_name": "vertex-stranger", "litellm_params": {
            "model": "vertex_ai/gemini-2.0-flash", "vertex_credentials": stranger, "vertex_project": "p", **common}},
    ]}
    return start_gateway(config)


@pytest.fixture
def client(gateway):
    return openai.OpenAI(api_key=GATEWAY_KEY, base_url=gateway.url + "/v1", max_retries=0)


def test_chat_fetches_one_token_and_reuses_it(client, google):
    token, vertex = google
    for text in ("first", "second"):
        out = client.chat.completions.create(model="vertex-flash", messages=[{"role": "user", "content": text}])
        assert out.choices[0].message.content == "echo: " + text
    assert len(token.grants) == 1  # cached until shortly before it expires
    sent = vertex.requests[-1]
    assert sent["path"] == "/" + MODEL_PATH + ":generateContent"
    scheme, _, bearer = sent["headers"]["authorization"].partition(" ")
    assert scheme == "Bearer" and bearer in token.issued


def test_stream(client, google):
    stream = client.chat.completions.create(model="vertex-flash", messages=[{"role": "user", "content": "a b c"}],
                                            stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "echo: a b c"
    assert google[1].requests[-1]["query"] == "alt=sse"


def test_project_comes_from_the_key_file(client, google):
    client.chat.completions.create(model="vertex-from-file", messages=[{"role": "user", "content": "hi"}])
    assert google[1].requests[-1]["path"].startswith(
        "/v1/projects/file-project/locations/europe-west1/publishers/google/models/gemini-2.0-flash:")


def test_embeddings_through_predict(client, google):
    out = client.embeddings.create(model="vertex-json-string", input=["x", "y"])
    assert [d.embedding for d in out.data] == [[0.25, 0.0], [0.25, 1.0]]
    assert out.usage.prompt_tokens == 4
    assert google[1].requests[-1]["body"] == {"instances": [{"content": "x"}, {"content": "y"}]}


def test_refused_credentials_are_an_upstream_auth_error(client):
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="vertex-stranger", messages=[{"role": "user", "content": "hi"}])
    assert "Google refused the Vertex AI credentials" in info.value.message
    assert "PRIVATE KEY" not in info.value.message


def test_passthrough_swaps_the_gateway_key_for_a_vertex_token(gateway, google):
    token, vertex = google
    body = {"contents": [{"role": "user", "parts": [{"text": "native"}]}]}
    r = httpx.post(f"{gateway.url}/vertex_ai/{MODEL_PATH}:generateContent", json=body,
                   headers={"authorization": "Bearer " + GATEWAY_KEY})
    assert r.status_code == 200
    assert r.json()["candidates"][0]["content"]["parts"] == [{"text": "echo: native"}]  # Vertex's own shape, untouched
    sent = vertex.requests[-1]
    assert sent["body"] == body
    assert sent["headers"]["authorization"].removeprefix("Bearer ") in token.issued
    assert GATEWAY_KEY not in json.dumps(sent["headers"])


def test_passthrough_stream(gateway):
    body = {"contents": [{"role": "user", "parts": [{"text": "x y"}]}]}
    r = httpx.post(f"{gateway.url}/vertex_ai/{MODEL_PATH}:streamGenerateContent?alt=sse", json=body,
                   headers={"authorization": "Bearer " + GATEWAY_KEY})
    assert r.status_code == 200
    events = [orjson.loads(line[6:]) for line in r.text.split("\r\n") if line.startswith("data: ")]
    assert "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in events) == "echo: x y"


def test_passthrough_needs_the_gateway_key(gateway, google):
    before = len(google[1].requests)
    r = httpx.post(f"{gateway.url}/vertex_ai/{MODEL_PATH}:generateContent", json={"contents": []})
    assert r.status_code == 401
    assert len(google[1].requests) == before


def test_unreadable_key_file_fails_at_startup(tmp_path):
    problems: list[str] = []
    build_deployment({"model_name": "v", "litellm_params": {
        "model": "vertex_ai/gemini-2.0-flash", "vertex_credentials": str(tmp_path / "missing.json"),
        "vertex_project": "p"}}, 0, problems, [], "config.yaml")
    assert len(problems) == 1 and "vertex_credentials: cannot read" in problems[0]
