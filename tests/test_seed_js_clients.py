"""The seed's OpenAI JS and LangChain JS examples, run with Node against relaykit and a fake upstream."""

from __future__ import annotations

import subprocess

import orjson


def test_seed_openai_js_and_langchain_js(js_clients, fake_openai, start_gateway):
    params = {"api_base": fake_openai.url + "/v1", "api_key": "sk-upstream"}
    gw = start_gateway({"model_list": [
        {"model_name": "gpt-3.5-turbo", "litellm_params": {"model": "openai/gpt-3.5-turbo", **params}},
        {"model_name": "gpt-4", "litellm_params": {"model": "openai/gpt-4-0613", **params}},
    ]})
    out = subprocess.run(["node", "seed_examples.mjs", gw.url], cwd=js_clients, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2500:]
    got = orjson.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"openai": "echo: Say this is a test", "streamed": "echo: stream this please",
                   "langchain": "echo: Hi there!"}
    sent = [r["body"] for r in fake_openai.requests]
    assert sent[-1]["model"] == "gpt-4-0613"
    assert all("metadata" not in body for body in sent)  # LangChain's modelKwargs metadata stays in the gateway
