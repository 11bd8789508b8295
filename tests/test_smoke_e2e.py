"""End-to-end: the official openai SDK through relaykit to a fake OpenAI upstream."""

import openai
import pytest


@pytest.fixture
def client(fake_openai, start_gateway):
    config = {"model_list": [{"model_name": "gpt-4o", "litellm_params": {
        "model": "openai/gpt-4o-2024", "api_base": fake_openai.url + "/v1", "api_key": "sk-upstream"}}]}
    gw = start_gateway(config)
    return openai.OpenAI(api_key="anything", base_url=gw.url + "/v1", max_retries=0)


def test_chat_round_trip(client, fake_openai):
    out = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert out.choices[0].message.content == "echo: hi"
    sent = fake_openai.requests[-1]
    assert sent["body"]["model"] == "gpt-4o-2024"
    assert sent["headers"]["authorization"] == "Bearer sk-upstream"
