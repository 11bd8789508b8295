"""Vertex AI (`vertex_ai/<model>`): the Gemini translation at the Vertex URL, with a service-account token.

URL: {api_base or https://{location}-aiplatform.googleapis.com}/v1/projects/{project}/locations/{location}/
publishers/google/models/{model}:{generateContent | streamGenerateContent?alt=sse | predict}.
The token comes from the `prepare` hook (providers/vertex_auth.py), which the provider-call middleware
awaits before `build_request`; everything here stays pure.
"""

from __future__ import annotations

from kernel.models import Deployment
from kernel.registry import register_provider
from providers import vertex_auth
from providers.gemini import GoogleGenAI

DEFAULT_LOCATION = "us-central1"


def vertex_base(location: str) -> str:
    # The global endpoint has no region prefix.
    return "https://aiplatform.googleapis.com" if location == "global" else f"https://{location}-aiplatform.googleapis.com"


class Vertex(GoogleGenAI):
    """Registered as `vertex_ai`; `api_key`, when given instead of credentials, is used as an access token."""

    name = "vertex_ai"
    config_keys = frozenset({"vertex_project", "vertex_location", "vertex_credentials"})
    # The variables LiteLLM and Google's own tools read for the same settings.
    config_env = {
        "vertex_project": ("VERTEXAI_PROJECT", "VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT"),
        "vertex_location": ("VERTEXAI_LOCATION", "VERTEX_LOCATION", "GOOGLE_CLOUD_LOCATION"),
        "vertex_credentials": ("VERTEXAI_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS"),
    }

    def validate_deployment(self, d: Deployment) -> list[str]:
        creds = d.extra.get("vertex_credentials")
        if not creds and not d.api_key:
            return ["vertex_ai needs vertex_credentials (a service-account key file or its JSON), "
                    "GOOGLE_APPLICATION_CREDENTIALS, or api_key holding an OAuth access token"]
        if creds:
            try:
                info = vertex_auth.load_credentials(creds)  # at startup, so a bad key file fails fast
            except ValueError as exc:
                return [f"vertex_credentials: {exc}"]
            if not d.extra.get("vertex_project") and not (info.get("project_id") or info.get("quota_project_id")):
                return ["vertex_ai needs vertex_project (or VERTEXAI_PROJECT); the credentials name no project"]
            if info.get("type", "service_account") == "service_account":
                try:
                    import google.auth.crypt  # noqa: F401
                except ImportError:
                    return ["service-account credentials need google-auth: pip install 'relaykit[vertex]'"]
        elif not d.extra.get("vertex_project"):
            return ["vertex_ai needs vertex_project (or the VERTEXAI_PROJECT environment variable)"]
        return []

    async def prepare(self, d: Deployment, upstream) -> Deployment:
        return await vertex_auth.prepare(d, upstream)

    def location(self, d: Deployment) -> str:
        return str(d.extra.get("vertex_location") or DEFAULT_LOCATION)

    def base(self, d: Deployment) -> str:
        return d.api_base or vertex_base(self.location(d))

    def model_url(self, d: Deployment, method: str) -> str:
        loc = self.location(d)
        return (f"{self.base(d)}/v1/projects/{d.extra.get('vertex_project', '')}/locations/{loc}"
                f"/publishers/google/models/{d.upstream_model}:{method}")

    def auth_headers(self, d: Deployment) -> dict[str, str]:
        return {"authorization": "Bearer " + d.api_key} if d.api_key else {}

    def embed_body(self, d: Deployment, texts: list[str], body: dict) -> tuple[str, dict]:
        payload: dict = {"instances": [{"content": t} for t in texts]}
        if body.get("dimensions"):
            payload["parameters"] = {"outputDimensionality": body["dimensions"]}
        return "predict", payload

    def embed_vectors(self, resp: dict) -> tuple[list[list[float]], int]:
        vectors, tokens = [], 0
        for p in resp.get("predictions") or ():
            emb = p.get("embeddings") or {}
            vectors.append(emb.get("values") or [])
            tokens += int((emb.get("statistics") or {}).get("token_count") or 0)
        return vectors, tokens


VERTEX = Vertex()
register_provider("vertex_ai", VERTEX)
