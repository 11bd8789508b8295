"""The seed document's client examples, run as written (base_url pointed at relaykit) against a fake upstream."""

from __future__ import annotations

import shutil
import subprocess

import orjson
import pytest


@pytest.fixture
def gw(fake_openai, start_gateway):
    params = {"api_base": fake_openai.url + "/v1", "api_key": "sk-upstream"}
    return start_gateway({"model_list": [
        {"model_name": "gpt-3.5-turbo", "litellm_params": {"model": "openai/gpt-3.5-turbo", **params}},
        {"model_name": "gemini-pro-flash", "litellm_params": {"model": "openai/extract-model", **params}},
    ]})


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed on this machine")
def test_seed_curl_with_metadata(gw, fake_openai):
    data = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "what llm are you"}],
            "metadata": {"generation_name": "ishaan-test-generation", "trace_id": "trace-id22"}}
    out = subprocess.run(["curl", "-s", "--location", gw.url + "/chat/completions", "--header",
                          "Content-Type: application/json", "--data", orjson.dumps(data).decode()],
                         capture_output=True, timeout=20, check=True)
    body = orjson.loads(out.stdout)
    assert body["choices"][0]["message"]["content"] == "echo: what llm are you"
    assert "_response_ms" in body
    assert "metadata" not in fake_openai.requests[-1]["body"]


def test_seed_langchain_chat_openai(gw, fake_openai):
    langchain_openai = pytest.importorskip("langchain_openai", reason="langchain-openai is in the test extra")
    from langchain_core.messages import HumanMessage, SystemMessage

    chat = langchain_openai.ChatOpenAI(openai_api_base=gw.url, model="gpt-3.5-turbo", temperature=0.1,
                                       openai_api_key="anything",
                                       extra_body={"metadata": {"generation_name": "ishaan-generation-langchain-client"}})
    response = chat.invoke([SystemMessage(content="You are a helpful assistant."),
                            HumanMessage(content="tell me why it's amazing in 1 sentence")])
    assert response.content == "echo: tell me why it's amazing in 1 sentence"
    sent = fake_openai.requests[-1]["body"]
    assert sent["temperature"] == 0.1 and "metadata" not in sent


def test_seed_instructor_structured_output(gw, fake_openai):
    instructor = pytest.importorskip("instructor", reason="instructor is in the test extra")
    from openai import OpenAI
    from pydantic import BaseModel
    from starlette.responses import JSONResponse

    from tests.fakes.openai_upstream import chat_completion

    class UserDetail(BaseModel):
        name: str
        age: int

    # The upstream model answers the forced tool call the way a real model would.
    fake_openai.script.append(JSONResponse(chat_completion("extract-model", "", tool_calls=[{
        "id": "call_1", "type": "function",
        "function": {"name": "UserDetail", "arguments": '{"name": "Jason", "age": 25}'}}])))
    client = instructor.from_openai(OpenAI(api_key="sk-1234", base_url=gw.url))
    user = client.chat.completions.create(model="gemini-pro-flash", response_model=UserDetail,
                                          messages=[{"role": "user", "content": "Extract Jason is 25 years old"}])
    assert isinstance(user, UserDetail)
    assert (user.name, user.age) == ("Jason", 25)
    sent = fake_openai.requests[-1]["body"]
    assert sent["tools"][0]["function"]["name"] == "UserDetail"  # instructor's tool schema reached the upstream
