"""Bedrock and Sagemaker provider details the contract does not pin: embeddings bodies, bearer keys,
settings from the AWS environment, startup validation, and an exception event inside a stream."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from kernel import errors, registry
from kernel.config import build_deployment
from tests.contract import FIXTURES, call_for, collect_stream

registry.load_plugins()
BEDROCK = registry.PROVIDERS["bedrock"]
SAGEMAKER = registry.PROVIDERS["sagemaker"]
KEYS = {"aws_access_key_id": "AKIDUNIT", "aws_secret_access_key": "unit-secret", "aws_region_name": "eu-west-1"}


def deployment(params: dict, problems: list | None = None):
    problems = [] if problems is None else problems
    return build_deployment({"model_name": "m", "litellm_params": params}, 0, problems, [], "test.yaml")


@pytest.mark.parametrize(("model", "body", "expected"), [
    ("amazon.titan-embed-text-v2:0", {"input": "hi", "dimensions": 512}, {"inputText": "hi", "dimensions": 512}),
    ("amazon.titan-embed-text-v1", {"input": ["hi"]}, {"inputText": "hi"}),
    ("cohere.embed-multilingual-v3", {"input": ["a", "b"]}, {"texts": ["a", "b"], "input_type": "search_document"}),
])
def test_embedding_bodies(model, body, expected):
    d = deployment({"model": f"bedrock/{model}", **KEYS})
    req = BEDROCK.build_request(call_for({"endpoint": "embeddings", "body": {"model": "m", **body}}), d)
    assert req.url == f"https://bedrock-runtime.eu-west-1.amazonaws.com/model/{model}/invoke"
    assert orjson.loads(req.content) == expected
    assert req.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDUNIT/")


def test_unknown_embedding_family_is_a_client_error():
    d = deployment({"model": "bedrock/meta.llama3-8b-instruct-v1:0", **KEYS})
    with pytest.raises(errors.ClientError, match="Titan and Cohere"):
        BEDROCK.build_request(call_for({"endpoint": "embeddings", "body": {"model": "m", "input": "x"}}), d)


def test_bedrock_api_key_is_a_bearer_token_and_skips_signing():
    d = deployment({"model": "bedrock/amazon.nova-lite-v1:0", "api_key": "bedrock-api-key-123",
                    "aws_region_name": "us-east-1"})
    req = BEDROCK.build_request(call_for({"endpoint": "chat", "body": {"model": "m", "messages": [
        {"role": "user", "content": "hi"}]}}), d)
    assert req.headers["authorization"] == "Bearer bedrock-api-key-123"
    assert "x-amz-date" not in req.headers


def test_arn_model_ids_escape_the_slash_only():
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"
    d = deployment({"model": f"bedrock/{arn}", **KEYS})
    req = BEDROCK.build_request(call_for({"endpoint": "chat", "body": {"model": "m", "messages": [
        {"role": "user", "content": "hi"}]}}), d)
    assert "/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile%2Fus.anthropic" in req.url


def test_settings_come_from_the_aws_environment_at_startup(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.delenv("AWS_REGION_NAME", raising=False)
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    d = deployment({"model": "sagemaker/my-endpoint"})
    assert d.extra["aws_access_key_id"] == "AKIDFROMENV"
    assert d.extra["aws_region_name"] == "ap-south-1"
    given = deployment({"model": "sagemaker/my-endpoint", "aws_region_name": "us-east-2"})
    assert given.extra["aws_region_name"] == "us-east-2"  # the config wins over the environment


def test_missing_credentials_are_reported_at_startup(monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION",
                "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(var, raising=False)
    problems: list[str] = []
    deployment({"model": "bedrock/amazon.nova-lite-v1:0"}, problems)
    assert any("aws_region_name" in p for p in problems)
    assert any("aws_access_key_id" in p for p in problems)


def test_exception_event_mid_stream_raises_a_typed_error():
    data = (FIXTURES / "bedrock" / "chat_stream_throttled.bin").read_bytes()
    call = call_for({"endpoint": "chat", "stream": True, "body": {"model": "m", "messages": []}})
    seen: list[dict] = []

    async def chunks():
        yield data

    async def run():
        async for c in BEDROCK.parse_stream(call, chunks()):
            seen.append(c)

    with pytest.raises(errors.UpstreamUnavailable) as info:  # no deployment on this call: untyped, still an error
        asyncio.run(run())
    assert "Too many tokens" in info.value.message
    assert [c["choices"][0]["delta"].get("content") for c in seen] == ["", "Hello", "! How can"]


def test_exception_event_is_rate_limited_for_a_deployment():
    d = deployment({"model": f"bedrock/{'anthropic.claude-3-haiku-20240307-v1:0'}", **KEYS})
    call = call_for({"endpoint": "chat", "stream": True, "body": {"model": "m", "messages": []}})
    call.deployment = d
    data = (FIXTURES / "bedrock" / "chat_stream_throttled.bin").read_bytes()
    with pytest.raises(errors.RateLimited) as info:
        collect_stream(BEDROCK, call, data)
    assert info.value.retryable and info.value.deployment == d.id


def test_sagemaker_reads_a_bare_vector_list():
    call = call_for({"endpoint": "embeddings", "body": {"model": "m", "input": "one"}})
    out = SAGEMAKER.parse_response(call, b"[0.5, 0.25]")
    assert out["data"] == [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}]


def test_system_only_conversation_becomes_a_user_turn():
    from providers.bedrock_converse import converse_body

    assert converse_body({"messages": [{"role": "system", "content": "Say hi."}]}) == {
        "messages": [{"role": "user", "content": [{"text": "Say hi."}]}]}
