"""The Call that travels through a chain, the Reply that comes back, and the middleware protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from attrs import Factory, define, evolve

if TYPE_CHECKING:  # names for annotations only: the kernel imports no middleware at run time
    from kernel.errors import GatewayError
    from kernel.models import Deployment
    from kernel.state import Gateway
    from kernel.store.records import Caller
    from middleware.routing.context import RoutingContext


@define(slots=True, eq=False)
class Attempt:
    """One upstream try: which deployment, how it ended, how long it took."""

    deployment: str
    error: str | None = None
    ms: float = 0.0
    kind: str = "primary"  # primary · retry · fallback
    delay: float = 0.0  # seconds the retry after this failure waited first (0: it went on at once)
    status: int = 0  # the failure's HTTP status (0: it has none)
    at: float = 0.0  # perf_counter when it ended (traces place its span from this and `ms`)


@define(slots=True, eq=False)
class Call:
    """One client request on its way through the chain.

    `body` holds the canonical form (OpenAI Chat Completions JSON) once the dialect has decoded it;
    `raw` keeps the bytes as they arrived so a same-dialect pass-through never re-serialises.
    """

    id: str
    route: str  # pipeline name from pipelines.yaml, e.g. "chat"
    endpoint: str  # canonical operation: chat, completions, embeddings, messages, ...
    dialect: str  # what the client speaks: openai, anthropic, azure
    gateway: Gateway | None = None
    method: str = "POST"
    path: str = "/"
    raw_path: bytes = b""  # the path as sent, still percent-encoded: what kernel/guards/paths.py checks for a pass-through
    headers: dict[str, str] = Factory(dict)  # lower-cased names
    query: dict[str, str] = Factory(dict)
    path_params: dict[str, str] = Factory(dict)
    raw: bytes = b""
    body: Any = None
    raw_body: Any = None  # the dict parsed from `raw`; while `body is raw_body`, `raw` may be forwarded as is
    native: Any = None  # the client's body in its own dialect, for a provider that speaks that dialect natively
    native_only: GatewayError | None = None  # raised by a provider that would have to translate `native` (its wire's own state)
    model: str | None = None  # the model name the client asked for
    stream: bool = False
    identity: str | None = None  # who the caller is, once auth has run
    caller: Caller | None = None  # a virtual key's records (key, team, user), set by key_auth; None for the master key
    deployment: Deployment | None = None  # the route decision
    attempts: list[Attempt] = Factory(list)
    metadata: dict[str, Any] = Factory(dict)  # the client's `metadata`, for logs only
    options: dict[str, Any] = Factory(dict)  # the client's own gateway-only fields (fallbacks, drop_params, ...)
    # What the links decide for the links inside them: typed fields, never keys of `options` (the client's).
    routing: RoutingContext | None = None  # user_config's router for this call; None: the gateway's
    credentials: dict[str, Any] | None = None  # client-side credential fields the dialect set aside
    use_client_credentials: bool = False  # client_credentials allowed them: provider_call applies them
    form: Any = None  # parsed multipart form, for uploads
    started: float = 0.0  # perf_counter at arrival
    upstream_s: float = 0.0  # seconds spent waiting on upstreams
    # (phase, perf_counter) as the request passes the links that end one (auth, decode, route): Server-Timing.
    marks: list[tuple[str, float]] = Factory(list)
    reply_headers: dict[str, str] = Factory(dict)
    # Run once the answer is complete (a stream at its end), each with the call's middleware.spend.usage.Usage,
    # or None when it failed: how limits and budgets learn what a call used. The meter link runs them.
    on_done: list[Callable[[Any], None]] | None = None
    spend: Any = None  # the meter's middleware.spend.usage.Spend: the call's cost, the budgets it was charged to

    def fork(self, **changes: Any) -> Call:
        """A copy for one more try (tower's clone_request): `changes` (model, body, deployment=None, ...) are
        its own, so nothing is restored afterwards; the lists and dicts every try adds to (attempts,
        reply_headers, metadata, options) stay shared with this call."""
        return evolve(self, **changes)

    def adopt(self, tried: Call) -> None:
        """Take back what a fork decided, won or lost: the model group and deployment it went to, and the
        upstream time (it started from this call's, so its count is the new total)."""
        self.model = tried.model
        self.deployment = tried.deployment
        self.upstream_s = tried.upstream_s


@define(slots=True, eq=False)
class Reply:
    """What a chain answers.

    Exactly one of these describes the payload:
    - `body`: a canonical JSON value (OpenAI shape) ready to encode;
    - `raw` + `wire`: upstream bytes still in the `wire` format (a dialect name), for the fast path;
      `decode` turns them into the canonical body when the client speaks another dialect;
    - `stream` + `wire`: with `wire` set, raw byte frames in that format; with `wire` None, canonical chunk dicts.
    `wire == "binary"` means opaque bytes (audio, files) that are passed through untouched.
    `parsed` is `raw` parsed (in its `wire` format), kept once the fast path has checked it, so later layers
    (usage for routing and spend) need not parse it again; `raw` is still what the client gets.
    A batch answers a list `body` whose failed members are `Failed` items, rendered by the dialect's encode.
    """

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    stream: AsyncIterator[Any] | None = None
    wire: str | None = None
    decode: Callable[[bytes], Any] | None = None
    decode_stream: Callable[[AsyncIterator[bytes]], AsyncIterator[dict]] | None = None
    media_type: str = "application/json"
    headers: dict[str, str] = Factory(dict)
    parsed: Any = None

    def canonical(self) -> Any:
        """The canonical body, decoding upstream bytes on first use."""
        if self.raw is not None and self.body is None:
            self.body = self.decode(self.raw) if self.decode else _loads(self.raw)
            self.raw = None
            self.wire = None
        return self.body

    def canonical_stream(self) -> AsyncIterator[dict]:
        """The stream as canonical chunk dicts, decoding upstream frames as they arrive."""
        if self.wire is not None and self.stream is not None:
            if self.decode_stream is None:
                raise TypeError(f"no decoder for a {self.wire} stream")
            self.stream = self.decode_stream(self.stream)
            self.wire = None
        return self.stream


@define(slots=True, eq=False)
class Failed:
    """One batch member's failure in its slot of a list answer: encode renders it as an error (scrubbed)."""

    call: Call  # the member's own copy of the call: the model it named, the secrets to mask
    error: GatewayError


def _loads(data: bytes) -> Any:
    import orjson

    return orjson.loads(data)


Next = Callable[[Call], Awaitable[Reply]]


class Middleware(Protocol):
    """One link of a chain: act before `next`, after it, both, or answer without calling it."""

    async def __call__(self, call: Call, next: Next) -> Reply: ...
