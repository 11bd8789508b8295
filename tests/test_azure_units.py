"""Azure provider and dialect in isolation: URL, version precedence, credentials, and decode from the path."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from dialects.azure import AzureDialect
from kernel.call import Call
from kernel.config import parse_config
from kernel.errors import ClientError, ConfigError
from providers.azure import AZURE, DEFAULT_API_VERSION


def deployment(**params):
    entry = {"model_name": "m", "litellm_params": {"model": "azure/dep-1", "api_base": "https://r.openai.azure.com",
                                                   **params}}
    return parse_config({"model_list": [entry]}, "t.yaml").deployments[0]


def url_and_headers(d, endpoint: str = "chat"):
    call = Call(id="c", route=endpoint, endpoint=endpoint, dialect="openai", body={"model": "m", "input": "x"})
    req = AZURE.build_request(call, d)
    return req.url, req.headers


def test_version_precedence(monkeypatch):
    monkeypatch.delenv("AZURE_API_VERSION", raising=False)
    assert url_and_headers(deployment(api_key="k"))[0].endswith(f"?api-version={DEFAULT_API_VERSION}")
    monkeypatch.setenv("AZURE_API_VERSION", "2025-03-01-preview")
    assert url_and_headers(deployment(api_key="k"))[0].endswith("?api-version=2025-03-01-preview")
    assert url_and_headers(deployment(api_key="k", api_version="2024-02-01"))[0].endswith("?api-version=2024-02-01")


def test_url_per_endpoint_and_portal_style_base():
    d = deployment(api_key="k", api_version="v", api_base="https://r.openai.azure.com/openai/")
    assert url_and_headers(d, "embeddings")[0] == "https://r.openai.azure.com/openai/deployments/dep-1/embeddings?api-version=v"
    assert url_and_headers(d, "transcriptions")[0].startswith("https://r.openai.azure.com/openai/deployments/dep-1/audio/")


def test_api_key_header_or_entra_token(monkeypatch):
    monkeypatch.delenv("AZURE_API_KEY", raising=False)
    assert url_and_headers(deployment(api_key="k"))[1]["api-key"] == "k"
    headers = url_and_headers(deployment(api_key="k", azure_ad_token="tok"))[1]
    assert headers["authorization"] == "Bearer tok" and "api-key" not in headers  # an explicit token wins
    monkeypatch.setenv("AZURE_API_KEY", "from-env")
    assert url_and_headers(deployment())[1]["api-key"] == "from-env"


def test_api_base_is_required(monkeypatch):
    monkeypatch.delenv("AZURE_API_BASE", raising=False)
    with pytest.raises(ConfigError) as info:
        parse_config({"model_list": [{"model_name": "m", "litellm_params": {"model": "azure/d", "api_key": "k"}}]}, "t")
    assert "AZURE_API_BASE" in str(info.value)


def decode(raw: bytes, model: str = "gpt-4o-azure") -> Call:
    call = Call(id="c", route="azure_chat", endpoint="chat", dialect="azure", raw=raw, path_params={"model": model},
                query={"api-version": "2024-06-01"})
    asyncio.run(AzureDialect.decode(call))
    return call


def test_decode_takes_the_model_from_the_path():
    call = decode(orjson.dumps({"messages": [{"role": "user", "content": "hi"}]}))
    assert call.model == "gpt-4o-azure" and call.body["model"] == "gpt-4o-azure"
    assert call.raw_body is None  # `raw` has no model: it must not be forwarded as is


def test_decode_keeps_the_fast_path_when_body_agrees():
    call = decode(orjson.dumps({"model": "gpt-4o-azure", "messages": [{"role": "user", "content": "hi"}]}))
    assert call.raw_body is call.body


def test_decode_checks_the_body_like_openai():
    with pytest.raises(ClientError) as info:
        decode(orjson.dumps({"messages": []}))
    assert info.value.param == "messages"


@pytest.mark.parametrize(("version", "url"), [
    ("v1", "https://r.openai.azure.com/openai/v1/chat/completions"),
    ("latest", "https://r.openai.azure.com/openai/v1/chat/completions"),
    ("preview", "https://r.openai.azure.com/openai/v1/chat/completions?api-version=preview"),
])
def test_v1_api(version, url):
    call = Call(id="c", route="chat", endpoint="chat", dialect="openai", body={"model": "m", "messages": []})
    req = AZURE.build_request(call, deployment(api_key="k", api_version=version))
    assert req.url == url
    assert orjson.loads(req.content)["model"] == "dep-1"  # v1 names the deployment in the body
