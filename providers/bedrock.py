"""Amazon Bedrock (`bedrock/<modelId>`): chat through Converse / ConverseStream, embeddings through InvokeModel.

Requests are SigV4-signed with the deployment's AWS credentials (providers/bedrock_sigv4.py), or carry a
Bedrock API key as a bearer token when `api_key` (AWS_BEARER_TOKEN_BEDROCK) is set instead.
Streams arrive in AWS event-stream framing (providers/aws_eventstream.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import orjson

from kernel.call import Call
from kernel.errors import ClientError
from kernel.guards.answers import json_object
from kernel.models import Deployment
from kernel.plugins import ProviderBase
from kernel.registry import register_provider
from kernel.upstream import UpstreamRequest
from providers import bedrock_converse as converse
from providers.bedrock_errors import parse_aws_error, stream_exception
from providers.bedrock_sigv4 import AWS_CONFIG_ENV, AWS_CONFIG_KEYS, aws_problems, botocore_missing, sign
from providers.shared.embeddings import embedding_list, embedding_texts
from providers.shared.replies import model_of

CHAT_PARAMS = frozenset({"temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "tools", "tool_choice"})
EMBED_PARAMS = frozenset({"dimensions", "encoding_format", "input_type"})  # input_type: Cohere's, as LiteLLM takes it


def embed_kind(model: str) -> str:
    if ".titan-embed" in model:
        return "titan"
    if ".embed-" in model and "cohere" in model:
        return "cohere"
    raise ClientError(f"bedrock embeddings support Amazon Titan and Cohere embed models, not {model!r}", param="model")


class Bedrock(ProviderBase):
    """Registered as `bedrock`."""

    name = "bedrock"
    wire = "bedrock"
    endpoints = frozenset({"chat", "embeddings"})
    supported_params = CHAT_PARAMS | EMBED_PARAMS
    key_env = "AWS_BEARER_TOKEN_BEDROCK"
    config_keys = AWS_CONFIG_KEYS | {"aws_bedrock_runtime_endpoint"}
    config_env = AWS_CONFIG_ENV

    def validate_deployment(self, d: Deployment) -> list[str]:
        if d.api_key:  # a Bedrock API key (bearer token) needs no signing, only somewhere to send it
            explicit = d.api_base or d.extra.get("aws_bedrock_runtime_endpoint") or d.extra.get("aws_region_name")
            return [] if explicit else aws_problems(d, "bedrock")[:1]
        return aws_problems(d, "bedrock") or botocore_missing()

    def base(self, d: Deployment) -> str:
        explicit = d.api_base or d.extra.get("aws_bedrock_runtime_endpoint")
        if explicit:
            return str(explicit).rstrip("/")
        return f"https://bedrock-runtime.{d.extra.get('aws_region_name', '')}.amazonaws.com"

    def model_id(self, d: Deployment) -> str:
        model = d.upstream_model
        if model.startswith("converse/"):  # LiteLLM's explicit route prefix
            model = model[len("converse/"):]
        # An ARN's '/' must be escaped; ':' is left as is because aiohttp (yarl) would unescape %3A on the
        # wire, and SigV4 must sign exactly the path that is sent.
        return quote(model, safe=":")

    def build_request(self, call: Call, d: Deployment) -> UpstreamRequest:
        body = call.body
        if d.defaults:
            body = {**d.defaults, **body}
        model = self.model_id(d)
        if call.endpoint == "embeddings":
            url = f"{self.base(d)}/model/{model}/invoke"
            payload = self.embed_body(d, body)
            stream = False
        else:
            url = f"{self.base(d)}/model/{model}/{'converse-stream' if call.stream else 'converse'}"
            payload = converse.converse_body(body)
            stream = call.stream
        content = orjson.dumps(payload)
        headers = {"content-type": "application/json", "accept": "application/json"}
        if stream:
            headers["accept"] = "application/vnd.amazon.eventstream"
        if d.api_key:
            headers["authorization"] = "Bearer " + d.api_key
            return UpstreamRequest("POST", url, headers, content=content, stream=stream)
        return sign("POST", url, headers, content, d, "bedrock", stream=stream)

    def embed_body(self, d: Deployment, body: dict) -> dict:
        texts = embedding_texts(body)
        if embed_kind(d.upstream_model) == "cohere":
            return {"texts": texts, "input_type": body.get("input_type", "search_document")}
        if len(texts) != 1:
            raise ClientError("Titan embeddings take one input per request; send `input` as one string", param="input")
        out: dict = {"inputText": texts[0]}
        if body.get("dimensions"):
            out["dimensions"] = body["dimensions"]
        return out

    def parse_response(self, call: Call, data: bytes) -> dict:
        if call.endpoint == "embeddings":
            resp = json_object(call, data)
            embeddings = resp.get("embeddings")
            if isinstance(embeddings, dict):  # Cohere with embedding_types: {"float": [[...]]}
                embeddings = embeddings.get("float") or []
            vectors = embeddings if embeddings is not None else [resp.get("embedding") or []]
            return embedding_list(vectors, model_of(call), int(resp.get("inputTextTokenCount") or 0),
                                  (call.body or {}).get("encoding_format"))
        return converse.chat_response(call, data)

    def parse_stream(self, call: Call, chunks: AsyncIterator[bytes]) -> AsyncIterator[dict]:
        return converse.chat_stream(call, chunks, lambda h, p: stream_exception(h, p, call.deployment))

    def parse_error(self, status: int, headers, data: bytes, d: Deployment):
        return parse_aws_error(status, headers, data, d)


BEDROCK = Bedrock()
register_provider("bedrock", BEDROCK)
