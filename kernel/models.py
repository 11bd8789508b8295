"""Deployments (one upstream model behind a name) and the table that finds them for a requested model."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

import attrs
from attrs import field, frozen

from kernel.errors import UnknownModel

EMPTY: Mapping = MappingProxyType({})


@frozen(slots=True)
class ClientAuthRule:
    """A credential param a client may set for a deployment; `pattern` must match the whole value."""

    param: str
    pattern: re.Pattern | None = None

    def allows(self, value: object) -> bool:
        if self.pattern is None:
            return True
        return isinstance(value, str) and self.pattern.fullmatch(value) is not None


@frozen(slots=True)
class Deployment:
    """One configured upstream: a model_list entry after validation. Never holds raw config dicts."""

    id: str
    model_name: str  # the name clients ask for (may hold a `*`)
    provider: str
    upstream_model: str  # what the provider is asked for (a `*` is filled from the request)
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_version: str | None = None
    organization: str | None = None
    timeout: float | None = None
    stream_timeout: float | None = None
    rpm: int | None = None
    tpm: int | None = None
    weight: float | None = None
    num_retries: int | None = None
    drop_params: bool | None = None
    additional_drop_params: tuple[str, ...] = ()
    allowed_openai_params: tuple[str, ...] = ()
    clientside_auth: tuple[ClientAuthRule, ...] = ()
    extra: Mapping = EMPTY  # provider-specific settings (vertex_project, aws_region_name, azure_ad_token, ...)
    defaults: Mapping = EMPTY  # request params given in litellm_params (temperature, max_tokens, ...)
    model_info: Mapping = EMPTY
    client_credentials: bool = False  # True when api_key/api_base came from the client, not the config

    @property
    def label(self) -> str:
        """How errors and headers name this deployment: never its key or URL."""
        return f"{self.model_name} ({self.provider}/{self.upstream_model}, id {self.id})"

    def for_request(self, requested: str) -> Deployment:
        """Fill a wildcard upstream model from the requested name (`openai/*` + `openai/gpt-4o` → `gpt-4o`)."""
        if "*" not in self.upstream_model:
            return self
        star = _star_capture(self.model_name, requested)
        return attrs.evolve(self, upstream_model=self.upstream_model.replace("*", star, 1))


# What a wildcard may fill into an upstream model name, which providers splice into URL paths (Gemini, Vertex,
# Bedrock, Azure): `/` is fine (`meta-llama/Llama-3.1-8B`), but a `.`/`..` segment, `?`, `#`, `%`, `\\`,
# whitespace or a control character would let a client steer the request elsewhere on the upstream host.
_UNSAFE_CAPTURE = re.compile(r"(?:^|/)\.{1,2}(?:/|$)|[?#%\\\s\x00-\x1f\x7f]")


def _star_capture(pattern: str, name: str) -> str:
    prefix, _, suffix = pattern.partition("*")
    end = len(name) - len(suffix) if suffix else len(name)
    return name[len(prefix):end]


DEFAULT_TIMEOUT = 600.0  # seconds a call may take when neither the deployment nor the router sets one (LiteLLM's)


def timeouts(d: Deployment, router, request_timeout: float | None = None) -> tuple[float, float]:
    """A call's deadlines on `d`: the whole call, and a stream's first chunk (the request's own timeout first, then
    the deployment's, then router_settings', then LiteLLM's default)."""
    total = request_timeout or d.timeout or router.timeout or DEFAULT_TIMEOUT
    first = d.stream_timeout or router.stream_timeout or total
    return float(total), float(first)


class ModelTable:
    """Finds the deployments serving a model name: exact names first, then the longest wildcard prefix."""

    __slots__ = ("_cache", "aliases", "by_id", "exact", "wildcards")

    def __init__(self, deployments: list[Deployment], aliases: Mapping[str, str] = EMPTY) -> None:
        self.exact: dict[str, list[Deployment]] = {}
        wild: dict[str, list[Deployment]] = {}
        self.by_id: dict[str, Deployment] = {}
        for d in deployments:
            (wild if "*" in d.model_name else self.exact).setdefault(d.model_name, []).append(d)
            self.by_id[d.id] = d
        # Longest prefix first so `openai/gpt-4*` wins over `openai/*`, which wins over `*`.
        self.wildcards = sorted(wild.items(), key=lambda kv: -len(kv[0].partition("*")[0]))
        self.aliases = dict(aliases)
        self._cache: dict[str, list[Deployment]] = {}

    def names(self) -> list[str]:
        return list(self.exact) + [name for name, _ in self.wildcards]

    def lookup(self, model: str) -> list[Deployment]:
        """Deployments for `model` (already resolved for wildcards), or [] when none serves it."""
        model = self.aliases.get(model, model)
        hit = self.exact.get(model)
        if hit is not None:
            return hit
        cached = self._cache.get(model)
        if cached is not None:
            return cached
        if model in self.by_id:
            return [self.by_id[model]]
        for pattern, group in self.wildcards:
            prefix, _, suffix = pattern.partition("*")
            if model.startswith(prefix) and model.endswith(suffix) and len(model) >= len(prefix) + len(suffix):
                if _UNSAFE_CAPTURE.search(model[len(prefix):len(model) - len(suffix)]):
                    raise UnknownModel(f"model {model!r} has characters or path segments a model name cannot have "
                                       "(., .. segments, ?, #, %, \\, whitespace or control characters)", param="model")
                found = [d.for_request(model) for d in group]
                if len(self._cache) < 4096:  # bounded: clients choose these names
                    self._cache[model] = found
                return found
        return []
