"""End-to-end: the openai SDK through relaykit to a fake Bedrock / Sagemaker runtime that verifies SigV4."""

from __future__ import annotations

import openai
import pytest

from tests.fakes.bedrock_upstream import ACCESS_KEY, AUTH_SHAPE, SECRET_KEY, FakeBedrock
from tests.servers import ServerThread

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture(scope="module")
def bedrock_server():
    fake = FakeBedrock()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def bedrock(bedrock_server):
    bedrock_server.clear()
    return bedrock_server


def aws(fake, **extra) -> dict:
    return {"api_base": fake.url, "aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY,
            "aws_region_name": "us-east-1", **extra}


@pytest.fixture
def client(bedrock, start_gateway):
    config = {"model_list": [
        {"model_name": "claude", "litellm_params": {"model": f"bedrock/{CLAUDE}", **aws(bedrock)}},
        {"model_name": "claude-session", "litellm_params": {
            "model": f"bedrock/converse/{CLAUDE}", **aws(bedrock, aws_session_token="session-token-xyz")}},
        {"model_name": "claude-wrong-key", "litellm_params": {
            "model": f"bedrock/{CLAUDE}", **aws(bedrock, aws_secret_access_key="not-the-secret")}},
        {"model_name": "profile", "litellm_params": {"model": f"bedrock/{PROFILE_ARN}", **aws(bedrock)}},
        {"model_name": "throttled", "litellm_params": {"model": "bedrock/throttled", **aws(bedrock)}},
        {"model_name": "stream-throttled", "litellm_params": {"model": "bedrock/stream-throttled", **aws(bedrock)}},
        {"model_name": "titan", "litellm_params": {"model": "bedrock/amazon.titan-embed-text-v2:0", **aws(bedrock)}},
        {"model_name": "cohere", "litellm_params": {"model": "bedrock/cohere.embed-english-v3", **aws(bedrock)}},
        {"model_name": "gte", "litellm_params": {"model": "sagemaker/jumpstart-dft-gte-large", **aws(bedrock)}},
    ]}
    gw = start_gateway(config)
    return openai.OpenAI(api_key="anything", base_url=gw.url + "/v1", max_retries=0)


def test_chat_is_signed_and_translated(client, bedrock):
    out = client.chat.completions.create(model="claude", messages=[
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}], max_tokens=50)
    assert out.choices[0].message.content == "echo: hi there"
    assert out.choices[0].finish_reason == "stop"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.total_tokens) == (12, 6, 18)
    sent = bedrock.requests[-1]
    assert sent["path"] == f"/model/{CLAUDE}/converse"
    assert sent["body"]["system"] == [{"text": "be brief"}]
    assert sent["body"]["inferenceConfig"] == {"maxTokens": 50}
    match = AUTH_SHAPE.fullmatch(sent["headers"]["authorization"])
    assert match and match["service"] == "bedrock" and match["region"] == "us-east-1"
    assert "x-amz-security-token" not in sent["headers"]


def test_session_token_is_signed_and_converse_prefix_stripped(client, bedrock):
    out = client.chat.completions.create(model="claude-session", messages=[{"role": "user", "content": "yo"}])
    assert out.choices[0].message.content == "echo: yo"
    sent = bedrock.requests[-1]
    assert sent["path"] == f"/model/{CLAUDE}/converse"
    assert sent["headers"]["x-amz-security-token"] == "session-token-xyz"
    assert "x-amz-security-token" in AUTH_SHAPE.fullmatch(sent["headers"]["authorization"])["signed"]


def test_arn_model_id_is_signed_as_sent(client, bedrock):
    out = client.chat.completions.create(model="profile", messages=[{"role": "user", "content": "arn"}])
    assert out.choices[0].message.content == "echo: arn"  # the fake re-derived the signature over the raw path
    assert bedrock.requests[-1]["path"] == (
        "/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile%2Fus.anthropic.claude-3-haiku-20240307-v1:0"
        "/converse")


def test_wrong_secret_is_refused_as_upstream_auth_error(client):
    with pytest.raises(openai.PermissionDeniedError) as info:  # the upstream's 403 is kept
        client.chat.completions.create(model="claude-wrong-key", messages=[{"role": "user", "content": "hi"}])
    assert "signature does not match" in info.value.message
    assert info.value.body["type"] == "authentication_error"
    assert "not-the-secret" not in info.value.message


def test_stream_text(client, bedrock):
    stream = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "one two three"}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage.total_tokens == 18
    assert bedrock.requests[-1]["path"].endswith("/converse-stream")


def test_stream_tool_call(client):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"location": {"type": "string"}}}}}]
    stream = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "weather?"}],
                                            tools=tools, stream=True)
    chunks = list(stream)
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or ())]
    assert calls[0].function.name == "get_weather" and calls[0].id == "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"
    assert "".join(tc.function.arguments or "" for tc in calls) == '{"location":"Boston, MA"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_round_trip(client, bedrock):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    first = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "weather?"}],
                                           tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    second = client.chat.completions.create(model="claude", tools=tools, messages=[
        {"role": "user", "content": "weather?"}, first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"}])
    assert second.choices[0].message.content.startswith("echo: tool said")
    result = bedrock.requests[-1]["body"]["messages"][-1]["content"][0]["toolResult"]
    assert result == {"toolUseId": call.id, "content": [{"text": "sunny"}]}


def test_throttled_is_a_rate_limit(client):
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="throttled", messages=[{"role": "user", "content": "hi"}])


def test_exception_mid_stream_ends_the_stream_with_an_error(client):
    stream = client.chat.completions.create(model="stream-throttled", messages=[{"role": "user", "content": "a b"}],
                                            stream=True)
    seen = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "echo: a b"  # what arrived before the exception event reached the client
    assert "Too many tokens" in str(info.value)


def test_titan_and_cohere_embeddings(client, bedrock):
    titan = client.embeddings.create(model="titan", input="hello", dimensions=3)
    assert titan.data[0].embedding == [0.25, 0.25, 0.25]
    assert titan.usage.prompt_tokens == 3
    assert bedrock.requests[-1]["path"] == "/model/amazon.titan-embed-text-v2:0/invoke"
    assert bedrock.requests[-1]["body"] == {"inputText": "hello", "dimensions": 3}
    cohere = client.embeddings.create(model="cohere", input=["a", "b"])
    assert [d.embedding for d in cohere.data] == [[0.5, -0.5], [0.5, -0.5]]
    assert bedrock.requests[-1]["body"] == {"texts": ["a", "b"], "input_type": "search_document"}


def test_titan_refuses_a_batch(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="titan", input=["a", "b"])
    assert "one input per request" in info.value.message


def test_sagemaker_embeddings(client, bedrock):
    out = client.embeddings.create(model="gte", input=["x", "y"])
    assert [d.embedding for d in out.data] == [[0.125, 0.5, -1.0]] * 2
    sent = bedrock.requests[-1]
    assert sent["path"] == "/endpoints/jumpstart-dft-gte-large/invocations"
    assert sent["body"] == {"text_inputs": ["x", "y"]}
    assert AUTH_SHAPE.fullmatch(sent["headers"]["authorization"])["service"] == "sagemaker"


def test_anthropic_sdk_reaches_bedrock_through_converse(client, bedrock):
    import anthropic

    claude_client = anthropic.Anthropic(api_key="anything", base_url=str(client.base_url).rstrip("/").removesuffix("/v1"),
                                        max_retries=0)
    with claude_client.messages.stream(model="claude", max_tokens=20, messages=[{"role": "user", "content": "x y"}]) as s:
        assert "".join(s.text_stream) == "echo: x y"
        assert s.get_final_message().usage.output_tokens == 6
    assert bedrock.requests[-1]["body"]["inferenceConfig"] == {"maxTokens": 20}
