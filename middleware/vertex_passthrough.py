"""Vertex AI pass-through: `/vertex_ai/{path}` is sent on to the Vertex API as it is, with the gateway key
swapped for the Vertex credentials of a configured `vertex_ai/` deployment (LiteLLM's Vertex pass-through).

The deployment is the one whose project and location match those in the path
(`v1/projects/{project}/locations/{location}/...`), else one in the same project, else the first configured.
The body and the answer (JSON or a stream) go through untouched. The path is checked first (kernel/guards/paths.py):
the upstream URL is built from its plain segments only, and a location in it must look like one (it can name
the upstream host).
"""

from __future__ import annotations

import re

import attrs

from kernel.call import Call, Next, Reply
from kernel.errors import NotFound
from kernel.guards.paths import UnsafePath, join_segments, path_segments, query_suffix
from kernel.models import Deployment, timeouts
from kernel.registry import PROVIDERS
from kernel.transport import Upstream, UpstreamRequest, relay

_SCOPE = re.compile(r"v1(?:beta1)?/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/")
# Vertex regions (us-central1, europe-west4, global): the location becomes part of the upstream host name, so
# anything else (`evil.example#`) is refused rather than trusted.
_LOCATION = re.compile(r"[a-z][a-z0-9-]{0,62}")
# Client headers worth passing on; the client's own Authorization (the gateway key) never is.
_PASS_HEADERS = ("content-type", "accept", "x-goog-user-project")


class VertexPassThrough:
    def __init__(self, options, gateway) -> None:
        self.upstream = Upstream(gateway)  # for the provider's `prepare` (the OAuth token) and the relay
        self.scrubber = gateway.scrubber
        self.router = gateway.settings.router
        self.deployments = [d for group in gateway.models.exact.values() for d in group if d.provider == "vertex_ai"]
        self.deployments += [d for _, group in gateway.models.wildcards for d in group if d.provider == "vertex_ai"]

    def deployment_for(self, path: str) -> tuple[Deployment, str | None]:
        if not self.deployments:
            raise NotFound("no vertex_ai deployment is configured, so /vertex_ai has no credentials to use")
        m = _SCOPE.match(path)
        if m is None:
            return self.deployments[0], None
        project, location = m["project"], m["location"]
        if not _LOCATION.fullmatch(location):
            raise UnsafePath(f"{location!r} is not a Vertex AI location (such as us-central1)")
        same = [d for d in self.deployments if d.extra.get("vertex_project") == project]
        exact = [d for d in same if (d.extra.get("vertex_location") or "us-central1") == location]
        return (exact or same or self.deployments)[0], location

    async def __call__(self, call: Call, next: Next) -> Reply:
        segments = path_segments(call.raw_path, call.path)[1:]  # without the vertex_ai/ prefix
        query = query_suffix(call.query)
        path = "/".join(segments)  # decoded, only to find the project and location
        d, location = self.deployment_for(path)
        call.deployment = d
        vertex = PROVIDERS["vertex_ai"]
        d = await vertex.prepare(d, self.upstream)
        if location is not None and location != d.extra.get("vertex_location"):
            d = attrs.evolve(d, extra={**d.extra, "vertex_location": location})  # the host follows the path's region
        url = f"{vertex.base(d)}/{join_segments(segments)}{query}"
        headers = {k: call.headers[k] for k in _PASS_HEADERS if k in call.headers}
        headers.update(vertex.auth_headers(d))
        req = UpstreamRequest(call.method, url, headers, content=call.raw or None, stream=True, passthrough=True)
        total, _ = timeouts(d, self.router, call.options.get("request_timeout"))
        return await relay(self.upstream.transport, self.scrubber, call, d, req, total)
