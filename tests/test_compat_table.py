"""The OpenAI-compatible family table: registration, startup-time env reads, base URLs and per-row quirks."""

from __future__ import annotations

import orjson
import pytest

from kernel import registry
from kernel.call import Call
from kernel.config import parse_config
from kernel.errors import ConfigError
from kernel.params import OPENAI_PARAMS
from providers.compat import FAMILY

NAMES = ["mistral", "groq", "fireworks_ai", "together_ai", "deepseek", "xai", "openrouter", "perplexity",
         "cerebras", "deepinfra", "hosted_vllm", "lm_studio", "ollama"]


def deployment(params: dict):
    return parse_config({"model_list": [{"model_name": "m", "litellm_params": params}]}, "t.yaml").deployments[0]


def chat_call(body: dict) -> Call:
    return Call(id="c", route="chat", endpoint="chat", dialect="openai", raw=orjson.dumps(body), body=body)


def test_every_family_member_is_registered():
    assert sorted(r.name for r in FAMILY) == sorted(NAMES)
    for row in FAMILY:
        assert registry.PROVIDERS[row.name] is row
        assert row.supported_params is None or row.supported_params <= OPENAI_PARAMS, row.name


@pytest.mark.parametrize(("name", "env", "url"), [
    ("groq", "GROQ_API_KEY", "https://api.groq.com/openai/v1/chat/completions"),
    ("mistral", "MISTRAL_API_KEY", "https://api.mistral.ai/v1/chat/completions"),
    ("perplexity", "PERPLEXITYAI_API_KEY", "https://api.perplexity.ai/chat/completions"),
])
def test_key_from_environment_at_startup(monkeypatch, name, env, url):
    monkeypatch.setenv(env, "env-key")
    d = deployment({"model": f"{name}/some-model"})
    req = registry.PROVIDERS[name].build_request(chat_call({"model": "x", "messages": []}), d)
    assert req.url == url
    assert req.headers["authorization"] == "Bearer env-key"


@pytest.mark.parametrize("base", ["http://box:11434", "http://box:11434/v1"])
def test_ollama_v1_suffix_added_once(base):
    d = deployment({"model": "ollama/llama3.2", "api_base": base})
    req = registry.PROVIDERS["ollama"].build_request(chat_call({"model": "x", "messages": []}), d)
    assert req.url == "http://box:11434/v1/chat/completions"
    assert "authorization" not in req.headers


def test_self_hosted_without_a_base_is_a_startup_error(monkeypatch):
    monkeypatch.delenv("HOSTED_VLLM_API_BASE", raising=False)
    with pytest.raises(ConfigError) as info:
        deployment({"model": "hosted_vllm/Qwen/Qwen2.5-7B-Instruct"})
    assert "HOSTED_VLLM_API_BASE" in str(info.value)


def test_untouched_body_is_forwarded_as_the_clients_bytes():
    d = deployment({"model": "groq/llama-3.3-70b-versatile", "api_key": "k"})
    body = {"model": "llama-3.3-70b-versatile", "messages": [{"role": "user", "content": "hi"}]}
    call = chat_call(body)
    call.raw_body = body
    call.raw = b'{"model":"llama-3.3-70b-versatile","messages":[{"role":"user","content":"hi"}]}'
    assert registry.PROVIDERS["groq"].build_request(call, d).content is call.raw


def test_renames_only_touch_named_params():
    d = deployment({"model": "mistral/mistral-large-latest", "api_key": "k"})
    req = registry.PROVIDERS["mistral"].build_request(
        chat_call({"model": "mistral-large-latest", "messages": [], "seed": 1, "temperature": 0.1}), d)
    assert orjson.loads(req.content) == {"model": "mistral-large-latest", "messages": [], "random_seed": 1,
                                         "temperature": 0.1}


def test_rows_serving_embeddings_accept_what_the_openai_sdk_sends():
    checked = [row for row in FAMILY if "embeddings" in row.endpoints and row.supported_params is not None]
    assert {"mistral", "fireworks_ai", "together_ai"} <= {row.name for row in checked}  # the loop below is not empty
    for row in checked:
        assert "encoding_format" in row.supported_params, row.name
