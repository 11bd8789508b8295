"""The plugin contract: what a Provider and a Dialect bring, the defaults of their optional pieces, and the check
registration runs, so a plugin missing a piece fails at import naming it instead of mid-request.

docs/adding-a-provider.md explains every piece; tests/test_provider_contract.py holds every registered plugin to it.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from kernel.call import Call, Reply
    from kernel.errors import GatewayError, UpstreamError
    from kernel.models import Deployment
    from kernel.upstream import UpstreamRequest


class Provider(Protocol):
    """An upstream API, as pure translation: canonical (OpenAI) request → UpstreamRequest, its answer → canonical.

    Required: `name`, `endpoints`, and the four translators — or, for a provider that answers in-process
    (`local = True`), `answer(call, d) -> Reply` instead. A provider with `forwards = True` also brings
    `forward_url(d, rest) -> str` and `auth_headers(d) -> dict`. Everything else has its default in ProviderBase.
    """

    name: str  # the `provider/` prefix in litellm_params.model, the name it is registered under
    endpoints: frozenset[str]  # the canonical endpoints it serves (chat, embeddings, ...); the router skips it for others
    wire: str  # the format of its answers; "openai" is the canonical form, passed through on the fast path
    native_wires: frozenset[str]  # other client dialects' wires it takes as they are (`call.native`), answering in them
    supported_params: frozenset[str] | None  # the OpenAI parameters it translates; None: it takes them all
    key_env: str | None  # environment variable read at start-up when the config gives no api_key
    base_env: str | None  # environment variable read at start-up when the config gives no api_base
    config_keys: frozenset[str]  # its own litellm_params, kept in Deployment.extra
    config_env: Mapping[str, tuple[str, ...]]  # config key → environment variables that stand in for it
    env_defaults: Mapping[str, str]  # litellm_param → environment variable that fills it when unset
    forwards: bool  # serves the pass-through routes (files, batches, assistants, ...)
    local: bool  # answers in-process through `answer`; nothing is sent
    prepare: Callable[[Deployment, Any], Awaitable[Deployment]] | None  # async credential step (a cached OAuth token)

    def build_request(self, call: Call, d: Deployment) -> UpstreamRequest: ...
    def parse_response(self, call: Call, data: bytes) -> Any: ...
    def parse_stream(self, call: Call, chunks: AsyncIterator[bytes]) -> AsyncIterator[dict]: ...
    def parse_error(self, status: int, headers: Any, data: bytes, d: Deployment) -> UpstreamError: ...
    def validate_deployment(self, d: Deployment) -> list[str]: ...


class ProviderBase:
    """The defaults of every optional Provider piece, in one place: providers inherit it, call sites read plain
    attributes."""

    __slots__ = ()  # so attrs' slotted providers (the OpenAI-compatible rows) stay slotted
    wire: str = "openai"
    native_wires: frozenset[str] = frozenset()
    supported_params: frozenset[str] | None = None
    key_env: str | None = None
    base_env: str | None = None
    config_keys: frozenset[str] = frozenset()
    config_env: Mapping[str, tuple[str, ...]] = MappingProxyType({})
    env_defaults: Mapping[str, str] = MappingProxyType({})
    forwards: bool = False
    local: bool = False
    prepare: Callable[[Deployment, Any], Awaitable[Deployment]] | None = None

    def validate_deployment(self, d: Deployment) -> list[str]:
        """Start-up problems with a deployment of this provider (a missing api_base, an unreadable key file)."""
        return []


class Dialect(Protocol):
    """A wire format clients speak: their request → canonical (decode), canonical reply → their bytes (encode)."""

    name: str
    wire: str  # an upstream answer already in this format reaches the client untouched
    decode_json: Callable[[Call], None] | None  # synchronous decode of a JSON body, run off the loop when it is big

    async def decode(self, call: Call) -> None: ...
    def encode(self, call: Call, reply: Reply) -> Reply: ...
    def encode_error(self, err: GatewayError) -> bytes: ...


class DialectBase:
    """The defaults of the optional Dialect pieces."""

    __slots__ = ()
    decode_json: Callable[[Call], None] | None = None  # None: every body goes through the async `decode`


def _text(v: Any) -> bool:
    return isinstance(v, str) and bool(v)


def _names(v: Any) -> bool:
    return isinstance(v, frozenset) and all(isinstance(x, str) for x in v)


def _env_names(v: Any) -> bool:
    return isinstance(v, Mapping) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())


def _env_lists(v: Any) -> bool:
    return isinstance(v, Mapping) and all(isinstance(k, str) and isinstance(x, tuple) and all(isinstance(n, str) for n in x)
                                          for k, x in v.items())


_FUNCTION = (callable, "a function")
_ASYNC = (inspect.iscoroutinefunction, "an async function")
# piece → (its check, what it must be). The order is the order problems are reported in.
PROVIDER_PIECES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "name": (_text, "a non-empty string"),
    "endpoints": (_names, "a frozenset of endpoint names"),
    "wire": (_text, "a non-empty string"),
    "native_wires": (_names, "a frozenset of dialect wire names"),
    "supported_params": (lambda v: v is None or _names(v), "a frozenset of parameter names, or None"),
    "key_env": (lambda v: v is None or _text(v), "an environment variable name, or None"),
    "base_env": (lambda v: v is None or _text(v), "an environment variable name, or None"),
    "config_keys": (_names, "a frozenset of litellm_params names"),
    "config_env": (_env_lists, "a mapping of config key → tuple of environment variable names"),
    "env_defaults": (_env_names, "a mapping of litellm_param → environment variable name"),
    "forwards": (lambda v: type(v) is bool, "True or False"),
    "local": (lambda v: type(v) is bool, "True or False"),
    "prepare": (lambda v: v is None or inspect.iscoroutinefunction(v), "an async function (d, upstream), or None"),
    "validate_deployment": _FUNCTION,
    "build_request": _FUNCTION,
    "parse_response": _FUNCTION,
    "parse_stream": _FUNCTION,
    "parse_error": _FUNCTION,
    "answer": _FUNCTION,
    "forward_url": _FUNCTION,
    "auth_headers": _FUNCTION,
}
_TRANSLATORS = ("build_request", "parse_response", "parse_stream", "parse_error")
_CONDITIONAL = ("answer", "forward_url", "auth_headers", *_TRANSLATORS)  # needed or not, as `local` and `forwards` say
DIALECT_PIECES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "name": (_text, "a non-empty string"),
    "wire": (_text, "a non-empty string"),
    "decode": _ASYNC,
    "decode_json": (lambda v: v is None or (callable(v) and not inspect.iscoroutinefunction(v)),
                    "a synchronous function (call), or None"),
    "encode": _FUNCTION,
    "encode_error": _FUNCTION,
}


def _problems(plugin: Any, pieces: dict[str, tuple[Callable[[Any], bool], str]], wanted: Iterable[str]) -> list[str]:
    if isinstance(plugin, type):
        return [f"{plugin.__name__} is a class: register an instance of it"]
    problems = []
    for piece in wanted:
        check, what = pieces[piece]
        if not hasattr(plugin, piece):
            problems.append(f"{piece} is missing (it must be {what})")
        elif not check(value := getattr(plugin, piece)):
            problems.append(f"{piece} must be {what}, not {type(value).__name__} {value!r:.60}")
    return problems


def _named(name: str, plugin: Any, problems: list[str]) -> list[str]:
    if not problems and plugin.name != name:
        problems.append(f"name is {plugin.name!r}, but it is registered as {name!r}")
    return problems


def check_provider(name: str, provider: Any) -> None:
    """TypeError naming the provider and every piece it lacks or has of the wrong type; nothing when it fits."""
    wanted = [p for p in PROVIDER_PIECES if p not in _CONDITIONAL]
    if not isinstance(provider, type):
        wanted += ["answer"] if _flag(provider, "local") else _TRANSLATORS
        wanted += ["forward_url", "auth_headers"] if _flag(provider, "forwards") else []
    problems = _named(name, provider, _problems(provider, PROVIDER_PIECES, wanted))
    if problems:
        raise TypeError(f"provider {name!r} does not fit the Provider contract (kernel/plugins.py, "
                        f"docs/adding-a-provider.md): " + "; ".join(problems))


def _flag(plugin: Any, piece: str) -> bool:
    return hasattr(plugin, piece) and getattr(plugin, piece) is True


def check_dialect(name: str, dialect: Any) -> None:
    """TypeError naming the dialect and every piece it lacks or has of the wrong type; nothing when it fits."""
    problems = _named(name, dialect, _problems(dialect, DIALECT_PIECES, DIALECT_PIECES))
    if problems:
        raise TypeError(f"dialect {name!r} does not fit the Dialect contract (kernel/plugins.py): " + "; ".join(problems))
