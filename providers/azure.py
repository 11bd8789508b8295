"""Azure OpenAI (`azure/<deployment>`): OpenAI's wire format at /openai/deployments/<deployment>/...?api-version=V.

Requests and responses are OpenAI's, so everything but the URL and the credential header comes from
OpenAICompatible. The version is `api_version` from the config, else AZURE_API_VERSION (read at startup by
kernel/config.py through `env_defaults`), else DEFAULT_API_VERSION; "v1", "latest" or "preview" select
Azure's v1 API at /openai/v1/... instead. The credential is an Entra ID bearer
token when the deployment (or an allowed client) sets `azure_ad_token`, else the `api-key` header.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import quote

from attrs import frozen

from kernel.call import Call
from kernel.models import Deployment
from kernel.registry import register_provider
from providers.openai import PATHS, OpenAICompatible

# The latest generally available data-plane inference version (learn.microsoft.com, Azure OpenAI REST reference).
DEFAULT_API_VERSION = "2024-10-21"
# Azure's v1 API (/openai/v1/..., no deployment in the path, no monthly version) is chosen by these api_version values.
V1_VERSIONS = frozenset({"v1", "latest", "preview"})
ENDPOINTS = frozenset({"chat", "completions", "embeddings", "images", "speech", "transcriptions", "translations"})


@frozen
class AzureOpenAI(OpenAICompatible):
    """OpenAICompatible with Azure's deployment URLs and credential headers."""

    env_defaults: Mapping[str, str] = MappingProxyType({"api_version": "AZURE_API_VERSION"})

    def base(self, d: Deployment) -> str:
        base = d.api_base or ""
        # Portal copies often end in /openai/ already; the deployment path adds it again.
        return base[:-7] if base.endswith("/openai") else base

    def url(self, call: Call, d: Deployment) -> str:
        if d.api_version in V1_VERSIONS:  # the body's `model` (the deployment name) picks the deployment
            query = "?api-version=preview" if d.api_version == "preview" else ""
            return f"{self.base(d)}/openai/v1{PATHS[call.endpoint]}{query}"
        version = quote(d.api_version or DEFAULT_API_VERSION, safe="")
        return f"{self.base(d)}/openai/deployments/{quote(d.upstream_model, safe='')}{PATHS[call.endpoint]}" \
               f"?api-version={version}"

    def validate_deployment(self, d: Deployment) -> list[str]:
        if not d.api_base:
            return ["azure needs api_base (https://<resource>.openai.azure.com) or the AZURE_API_BASE environment variable"]
        return []

    def auth_headers(self, d: Deployment) -> dict[str, str]:
        token = d.extra.get("azure_ad_token")
        if token:
            return {"authorization": "Bearer " + str(token)}
        return {"api-key": d.api_key} if d.api_key else {}


AZURE = AzureOpenAI("azure", None, "AZURE_API_KEY", "AZURE_API_BASE", endpoints=ENDPOINTS,
                    config_keys=frozenset({"azure_ad_token"}))
register_provider("azure", AZURE)
