"""End-to-end: openai.AzureOpenAI → relaykit's Azure dialect → the azure/ provider → a fake Azure resource.

Both halves of Azure are real here: the client speaks Azure's URL layout to the gateway (the model named in
the path), and the gateway speaks it to the upstream (deployment in the path, api-version, api-key or Entra).
"""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.fakes.azure_upstream import FakeAzure
from tests.servers import ServerThread

GATEWAY_KEY = "sk-gateway-0123456789abcdef"
CLIENT_VERSION = "2024-06-01"


@pytest.fixture(scope="module")
def azure_upstream():
    fake = FakeAzure()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def fake_azure(azure_upstream):
    azure_upstream.clear()
    return azure_upstream


def azure_entry(name: str, deployment: str, base: str, **params) -> dict:
    return {"model_name": name, "litellm_params": {"model": f"azure/{deployment}", "api_base": base, **params}}


@pytest.fixture
def gateway(fake_azure, fake_openai, start_gateway, monkeypatch):
    # Read once at startup by kernel/config.py for deployments that give no api_version.
    monkeypatch.setenv("AZURE_API_VERSION", "2025-01-01-preview")
    config = {
        "general_settings": {"master_key": GATEWAY_KEY},
        "model_list": [
            azure_entry("gpt-4o-azure", "my-gpt4o", fake_azure.url, api_key="azure-key", api_version="2024-10-21"),
            azure_entry("azure-embedding-model", "embed-deploy", fake_azure.url, api_key="azure-key",
                        api_version="2024-10-21"),
            azure_entry("azure-entra", "entra-deploy", fake_azure.url, azure_ad_token="entra-token"),
            azure_entry("azure-wrong-key", "my-gpt4o", fake_azure.url, api_key="not-the-key"),
            azure_entry("azure-policy", "policy", fake_azure.url, api_key="azure-key"),
            azure_entry("team/gpt-4o", "team-deploy", fake_azure.url, api_key="azure-key"),
            azure_entry("team/completions", "team-completions", fake_azure.url, api_key="azure-key"),
            {"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o-2024", "api_base": fake_openai.url + "/v1",
                                                        "api_key": "sk-upstream"}},
        ],
    }
    return start_gateway(config)


@pytest.fixture
def client(gateway):
    return openai.AzureOpenAI(azure_endpoint=gateway.url, api_version=CLIENT_VERSION, api_key=GATEWAY_KEY, max_retries=0)


def test_chat_reaches_the_azure_deployment_with_api_key_and_version(client, fake_azure):
    out = client.chat.completions.create(model="gpt-4o-azure", messages=[{"role": "user", "content": "hi"}])
    assert out.choices[0].message.content == "echo: hi"
    sent = fake_azure.requests[-1]
    assert sent["path"] == "/openai/deployments/my-gpt4o/chat/completions"
    assert sent["query"] == "api-version=2024-10-21"  # the deployment's version, not the client's
    assert sent["headers"]["api-key"] == "azure-key"
    assert "authorization" not in sent["headers"]
    assert sent["body"]["model"] == "my-gpt4o"


def test_chat_stream_through_azure_prompt_filter_chunk(client, fake_azure):
    stream = client.chat.completions.create(model="gpt-4o-azure", stream=True,
                                            messages=[{"role": "user", "content": "stream me please"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream me please"
    assert chunks[0].choices == []  # Azure's prompt-filter chunk reached the client as Azure sends it
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert fake_azure.requests[-1]["body"]["stream"] is True


def test_embeddings(client, fake_azure):
    out = client.embeddings.create(model="azure-embedding-model", input=["hello", "world"])
    assert [d.index for d in out.data] == [0, 1]
    assert len(out.data[0].embedding) == 3
    sent = fake_azure.requests[-1]
    assert sent["path"] == "/openai/deployments/embed-deploy/embeddings"
    assert sent["body"]["input"] == ["hello", "world"]


def test_entra_token_and_version_from_environment(client, fake_azure):
    out = client.chat.completions.create(model="azure-entra", messages=[{"role": "user", "content": "hi"}])
    assert out.choices[0].message.content == "echo: hi"
    sent = fake_azure.requests[-1]
    assert sent["headers"]["authorization"] == "Bearer entra-token"
    assert "api-key" not in sent["headers"]
    assert sent["query"] == "api-version=2025-01-01-preview"


def test_path_names_any_relaykit_model(client, fake_openai, fake_azure):
    # `{model}` is a relaykit model name: here an OpenAI deployment, reached from an Azure client.
    out = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert out.choices[0].message.content == "echo: hi"
    assert fake_openai.requests[-1]["body"]["model"] == "gpt-4o-2024"
    assert fake_azure.requests == []


def test_path_wins_over_body_model(gateway, fake_azure):
    client = openai.AzureOpenAI(azure_endpoint=gateway.url, azure_deployment="gpt-4o-azure", api_version=CLIENT_VERSION,
                                api_key=GATEWAY_KEY, max_retries=0)
    out = client.chat.completions.create(model="something-else", messages=[{"role": "user", "content": "hi"}])
    assert out.choices[0].message.content == "echo: hi"
    assert fake_azure.requests[-1]["body"]["model"] == "my-gpt4o"


def test_llamaindex_request_shape(gateway, fake_azure):
    """LlamaIndex's AzureOpenAI(engine=..., azure_endpoint=relaykit) posts this: api-key header, engine in the path."""
    r = httpx.post(gateway.url + "/openai/deployments/gpt-4o-azure/chat/completions",
                   params={"api-version": "2023-07-01-preview"}, headers={"api-key": GATEWAY_KEY},
                   json={"messages": [{"role": "user", "content": "hi"}], "temperature": 0.0, "stream": False})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "echo: hi"
    assert fake_azure.requests[-1]["body"]["temperature"] == 0.0


def test_gateway_key_is_required(gateway, fake_azure):
    client = openai.AzureOpenAI(azure_endpoint=gateway.url, api_version=CLIENT_VERSION, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4o-azure", messages=[{"role": "user", "content": "hi"}])
    assert fake_azure.requests == []


def test_unknown_model_in_path(client, fake_azure):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert "no-such-model" in info.value.message
    assert fake_azure.requests == []


def test_upstream_refuses_the_key(client, fake_azure):
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="azure-wrong-key", messages=[{"role": "user", "content": "hi"}])
    assert "not-the-key" not in str(info.value)
    assert fake_azure.requests[-1]["headers"]["api-key"] == "not-the-key"


def test_upstream_content_policy(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="azure-policy", messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "content_policy_violation"


def test_seed_example_azure_client_with_base_url(gateway, fake_azure):
    """The seed's "AzureOpenAI Python" tab: base_url=<relaykit> (so /deployments/{model}/..., no /openai), metadata."""
    client = openai.AzureOpenAI(api_key=GATEWAY_KEY, base_url=gateway.url, api_version=CLIENT_VERSION, max_retries=0)
    out = client.chat.completions.create(
        model="gpt-4o-azure", messages=[{"role": "user", "content": "this is a test request, write a short poem"}],
        extra_body={"metadata": {"generation_name": "ishaan-generation-openai-client", "trace_id": "t-22"}})
    assert out.choices[0].message.content == "echo: this is a test request, write a short poem"
    sent = fake_azure.requests[-1]
    assert sent["path"] == "/openai/deployments/my-gpt4o/chat/completions"
    assert "metadata" not in sent["body"]  # gateway-only: for logs, never forwarded


def test_images_speech_and_transcription(client, fake_azure):
    image = client.images.generate(model="gpt-4o-azure", prompt="a red bicycle")
    assert image.data[0].revised_prompt == "a red bicycle"
    assert fake_azure.requests[-1]["path"] == "/openai/deployments/my-gpt4o/images/generations"

    audio = client.audio.speech.create(model="gpt-4o-azure", voice="alloy", input="hello")
    assert len(audio.content) == 4096  # the fake's four 1 KiB frames, passed through as bytes
    assert fake_azure.requests[-1]["path"] == "/openai/deployments/my-gpt4o/audio/speech"

    text = client.audio.transcriptions.create(model="gpt-4o-azure", file=("a.wav", b"RIFF" + b"\0" * 60, "audio/wav"))
    assert text.text == "heard 64 bytes"
    sent = fake_azure.requests[-1]
    assert sent["path"] == "/openai/deployments/my-gpt4o/audio/transcriptions"
    assert sent["form"]["model"] == "my-gpt4o"


@pytest.mark.parametrize("stream", [False, True])
def test_deployment_name_with_a_slash(gateway, fake_azure, stream):
    # AzureOpenAI puts azure_deployment in the path as it is: /openai/deployments/team/gpt-4o/chat/completions.
    client = openai.AzureOpenAI(azure_endpoint=gateway.url, azure_deployment="team/gpt-4o", api_version=CLIENT_VERSION,
                                api_key=GATEWAY_KEY, max_retries=0)
    out = client.chat.completions.create(model="ignored", messages=[{"role": "user", "content": "hi"}], stream=stream)
    text = "".join(c.choices[0].delta.content or "" for c in out if c.choices) if stream else out.choices[0].message.content
    assert text == "echo: hi"
    sent = fake_azure.requests[-1]
    assert sent["path"] == "/openai/deployments/team-deploy/chat/completions"
    assert sent["body"]["model"] == "team-deploy"


@pytest.mark.parametrize("spelling", ["team/gpt-4o", "team%2Fgpt-4o", "team%2fgpt-4o"])
def test_slash_name_sent_plain_or_encoded(gateway, fake_azure, spelling):
    r = httpx.post(f"{gateway.url}/openai/deployments/{spelling}/chat/completions", params={"api-version": CLIENT_VERSION},
                   headers={"api-key": GATEWAY_KEY}, json={"messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    assert fake_azure.requests[-1]["path"] == "/openai/deployments/team-deploy/chat/completions"


def test_slash_name_ending_like_another_operation(gateway, fake_azure):
    # "team/completions" + /embeddings and "team/gpt-4o" + /completions: the operation is the path's literal tail.
    r = httpx.post(f"{gateway.url}/openai/deployments/team/gpt-4o/completions", params={"api-version": CLIENT_VERSION},
                   headers={"api-key": GATEWAY_KEY}, json={"prompt": "hi"})
    assert r.status_code == 200, r.text
    assert fake_azure.requests[-1]["path"] == "/openai/deployments/team-deploy/completions"
    r = httpx.post(f"{gateway.url}/openai/deployments/team/completions/chat/completions",
                   params={"api-version": CLIENT_VERSION}, headers={"api-key": GATEWAY_KEY},
                   json={"messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    assert fake_azure.requests[-1]["path"] == "/openai/deployments/team-completions/chat/completions"


# Encoded, as httpx would otherwise remove the dot segments before sending (a client that does not, sends these).
@pytest.mark.parametrize("name", ["team//gpt-4o", "team%2F..%2Fgpt-4o", "team%2F.%2Fgpt-4o", "team%2F%2Fgpt-4o",
                                  "team/%0agpt-4o", "%2E%2E/gpt-4o"])
def test_slash_name_with_dot_or_empty_parts_is_refused(gateway, fake_azure, name):
    r = httpx.post(f"{gateway.url}/openai/deployments/{name}/chat/completions", params={"api-version": CLIENT_VERSION},
                   headers={"api-key": GATEWAY_KEY}, json={"messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "model"
    assert fake_azure.requests == []
