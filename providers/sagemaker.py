"""Amazon Sagemaker (`sagemaker/<endpoint name>`): embeddings through the runtime's invoke-endpoint, SigV4-signed.

The body is the JumpStart text-embedding contract LiteLLM uses (`{"text_inputs": [...]}` →
`{"embedding": [[...]]}`); Hugging Face TEI containers' bare list of vectors is read as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import orjson

from kernel.call import Call
from kernel.models import Deployment
from kernel.plugins import ProviderBase
from kernel.registry import register_provider
from kernel.upstream import UpstreamRequest
from providers.bedrock_errors import parse_aws_error
from providers.bedrock_sigv4 import AWS_CONFIG_ENV, AWS_CONFIG_KEYS, aws_problems, botocore_missing, sign
from providers.shared.embeddings import embedding_list, embedding_texts
from providers.shared.replies import model_of


class Sagemaker(ProviderBase):
    """Registered as `sagemaker`; embeddings only."""

    name = "sagemaker"
    wire = "sagemaker"
    endpoints = frozenset({"embeddings"})
    supported_params = frozenset({"encoding_format"})
    config_keys = AWS_CONFIG_KEYS
    config_env = AWS_CONFIG_ENV

    def validate_deployment(self, d: Deployment) -> list[str]:
        return aws_problems(d, "sagemaker") or botocore_missing()

    def base(self, d: Deployment) -> str:
        return d.api_base or f"https://runtime.sagemaker.{d.extra.get('aws_region_name', '')}.amazonaws.com"

    def build_request(self, call: Call, d: Deployment) -> UpstreamRequest:
        url = f"{self.base(d)}/endpoints/{quote(d.upstream_model, safe=':')}/invocations"
        content = orjson.dumps({"text_inputs": embedding_texts(call.body)})
        headers = {"content-type": "application/json", "accept": "application/json"}
        return sign("POST", url, headers, content, d, "sagemaker")

    def parse_response(self, call: Call, data: bytes) -> dict:
        resp = orjson.loads(data)
        vectors = (resp.get("embedding") or resp.get("embeddings") or []) if isinstance(resp, dict) else resp
        if vectors and isinstance(vectors[0], (int, float)):  # one input answered with one flat vector
            vectors = [vectors]
        return embedding_list(vectors, model_of(call), 0, (call.body or {}).get("encoding_format"))

    async def parse_stream(self, call: Call, chunks: AsyncIterator[bytes]) -> AsyncIterator[dict]:
        raise NotImplementedError("sagemaker serves embeddings only; there is no stream")
        yield {}  # pragma: no cover  (makes this an async generator)

    def parse_error(self, status: int, headers, data: bytes, d: Deployment):
        return parse_aws_error(status, headers, data, d)


SAGEMAKER = Sagemaker()
register_provider("sagemaker", SAGEMAKER)
