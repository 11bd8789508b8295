"""Scrub secrets out of text before a client or a log sees it: configured keys, the call's own, and key shapes.

An upstream may echo the credential it was sent ("Incorrect API key provided: sk-proj-..."), and relaykit
relays upstream error text, so every error rendering, relayed error body and log line goes through one
`Scrubber`, built once at startup from the settings. Each secret becomes a masked form that still tells an
operator which key it was (`sk-...1111`) without giving it away. 2xx bodies never pass through here.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from kernel.call import Call
    from kernel.config import Settings
    from kernel.models import Deployment

MIN_SECRET = 8  # shorter values would mask ordinary words; the master key is the one exception
PARTIAL_MIN = 20  # below this, showing 7 characters would give too much of a secret away: mask it all
MINTED_KEPT = 64  # runtime credentials (OAuth access tokens) remembered; they rotate about hourly
# Shapes of well-known credentials, masked even when relaykit never saw the value (a client's own key,
# a LiteLLM virtual key, an access token minted elsewhere): they have no business in an error message.
SHAPES = (
    r"-----BEGIN[A-Z ]*PRIVATE KEY-----.*?-----END[A-Z ]*PRIVATE KEY-----",
    r"sk-[A-Za-z0-9_\-]{16,}",  # OpenAI, Anthropic (sk-ant-), LiteLLM virtual keys
    r"(?:AKIA|ASIA)[A-Z0-9]{16}",  # AWS access key ids
    r"ya29\.[A-Za-z0-9_\-.]{16,}",  # Google OAuth access tokens
    r"AIza[A-Za-z0-9_\-]{35}",  # Google API keys
    r"(?<=[Bb]earer )[A-Za-z0-9._~+/=\-]{16,}",  # any bearer token an upstream echoes with its header
)
_SECRET_WORDS = ("key", "secret", "password", "credential")


def mask(secret: str) -> str:
    """`sk-proj-abc...1111` → `sk-...1111`; a short secret is masked entirely."""
    if secret.startswith("-----BEGIN"):
        return "[private key]"
    if len(secret) >= PARTIAL_MIN:
        return f"{secret[:3]}...{secret[-4:]}"
    return "****"


def secret_name(name: str) -> bool:
    """Does a setting's name say it holds a secret? (api_key, aws_session_token, vertex_credentials, ...)"""
    n = name.lower()
    return any(w in n for w in _SECRET_WORDS) or n.endswith("token")


def gather(value: Any, out: list[str], *, named: bool = False, files: bool = False) -> None:
    """Append the secret strings in a config value: strings under a secret-looking name, looking inside
    mappings, lists, JSON strings and (with `files`, at startup only) a key file named by path."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            gather(v, out, named=isinstance(k, str) and secret_name(k), files=files)
    elif isinstance(value, (list, tuple)):
        for v in value:
            gather(v, out, named=named, files=files)
    elif isinstance(value, str) and named:
        text = value.strip()
        if text.startswith("{"):
            _gather_json(text, out)
        elif files and "\n" not in text and os.path.isfile(text):  # vertex_credentials: a key file's path
            try:
                with open(text, encoding="utf-8") as fh:
                    _gather_json(fh.read(), out)
            except (OSError, UnicodeDecodeError):
                pass
        else:
            out.append(value)
            if "PRIVATE KEY-----" in value:  # each line of the key, so a partial echo is caught too
                out.extend(line.strip() for line in value.splitlines() if "-----" not in line)


def _gather_json(text: str, out: list[str]) -> None:
    try:
        gather(orjson.loads(text), out)
    except orjson.JSONDecodeError:
        out.append(text)


def deployment_secrets(d: Deployment, *, files: bool = False) -> list[str]:
    out: list[str] = [d.api_key] if d.api_key else []
    gather(d.extra, out, files=files)
    return out


def settings_secrets(settings: Settings) -> list[str]:
    """Every credential in the settings (the master key apart: see Scrubber.from_settings)."""
    out: list[str] = []
    for d in settings.deployments:
        out += deployment_secrets(d, files=True)
    return out


def call_secrets(call: Call | None) -> list[str]:
    """Credentials that came with this request: client-side api_key & co, a user_config's model keys."""
    if call is None:
        return []
    out: list[str] = []
    gather(call.credentials, out)
    options = call.options
    if options:
        gather(options.get("user_config"), out)
    d = call.deployment
    if d is not None and d.client_credentials:
        out += deployment_secrets(d)
    return out


def _mask_text(m: re.Match) -> str:
    return mask(m.group(0))


def _mask_bytes(m: re.Match) -> bytes:
    return mask(m.group(0).decode("utf-8", "replace")).encode()


class Scrubber:
    """Masks known secrets and credential shapes in text; `scrub` for str, `scrub_bytes` for bytes."""

    __slots__ = ("_bytes", "_minted", "_secrets", "_short", "_text")

    def __init__(self, secrets: Iterable[str | None] = (), *, short: Iterable[str | None] = ()) -> None:
        """`secrets` under MIN_SECRET characters are skipped; `short` ones (a weak master key the operator
        allowed) are kept but matched only as a whole token, so `test` does not mask `tests`."""
        found = {s for s in secrets if isinstance(s, str) and s}
        self._secrets = {s for s in found if len(s) >= MIN_SECRET}
        self._short = {s for s in short if isinstance(s, str) and s and len(s) < MIN_SECRET}
        self._secrets |= {s for s in short if isinstance(s, str) and len(s) >= MIN_SECRET}
        self._minted: dict[str, None] = {}  # insertion-ordered: the oldest is dropped first
        self._compile()

    @classmethod
    def from_settings(cls, settings: Settings) -> Scrubber:
        return cls(settings_secrets(settings), short=(settings.general.master_key,))

    def _compile(self) -> None:
        literal = sorted(self._secrets | set(self._minted), key=len, reverse=True)  # longest wins at one spot
        parts = [re.escape(s) for s in literal]
        parts += [rf"(?<![\w-]){re.escape(s)}(?![\w-])" for s in sorted(self._short, key=len, reverse=True)]
        pattern = "|".join([*parts, *SHAPES])
        text, data = re.compile(pattern, re.DOTALL), re.compile(pattern.encode(), re.DOTALL)
        self._text, self._bytes = text, data  # swapped together: a log filter may read from another thread

    def remember(self, secret: str | None) -> None:
        """Add a credential minted at runtime (a Vertex access token); two set lookups when already known."""
        if not secret or len(secret) < MIN_SECRET or secret in self._minted or secret in self._secrets:
            return
        self._minted[secret] = None
        if len(self._minted) > MINTED_KEPT:
            del self._minted[next(iter(self._minted))]
        self._compile()

    def scrub(self, text: str, call: Call | None = None, extra: Iterable[str | None] = ()) -> str:
        """`text` with every secret masked: configured ones, `call`'s own and `extra` (the credential of
        this attempt), and anything shaped like a key."""
        for s in _extras(call, extra):
            if s in text:
                text = text.replace(s, mask(s))
        return self._text.sub(_mask_text, text)

    def scrub_bytes(self, data: bytes, call: Call | None = None, extra: Iterable[str | None] = ()) -> bytes:
        for s in _extras(call, extra):
            raw = s.encode()
            if raw in data:
                data = data.replace(raw, mask(s).encode())
        return self._bytes.sub(_mask_bytes, data)


def _extras(call: Call | None, extra: Iterable[str | None]) -> list[str]:
    found = call_secrets(call)
    found += [s for s in extra if s]
    return sorted({s for s in found if isinstance(s, str) and len(s) >= MIN_SECRET}, key=len, reverse=True)


def scrubber_of(call: Call) -> Scrubber | None:
    gateway = call.gateway
    return getattr(gateway, "scrubber", None) if gateway is not None else None


def unchanged(data: bytes) -> bytes:
    return data


def bytes_scrub(call: Call) -> Callable[[bytes], bytes]:
    """What a dialect's stream encoder applies to an error event of this call (bound once per stream)."""
    scrubber = scrubber_of(call)
    if scrubber is None:
        return unchanged
    return lambda data: scrubber.scrub_bytes(data, call)


class ScrubFilter(logging.Filter):
    """Masks secrets in a log record's message, exception text and stack before any handler formats it."""

    _formatter = logging.Formatter()

    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__()
        self.scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        scrub = self.scrubber.scrub
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the handler's to report
            return True
        clean = scrub(message)
        if clean != message:
            # Scrub the arguments one by one where that suffices: uvicorn's access formatter reads args.
            if isinstance(record.args, tuple):
                record.args = tuple(scrub(a) if isinstance(a, str) else a for a in record.args)
                if isinstance(record.msg, str):
                    record.msg = scrub(record.msg)
            if record.getMessage() != clean:
                record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


def install_log_filter(scrubber: Scrubber, loggers: Iterable[str] = ("", "relaykit", "uvicorn", "uvicorn.error",
                                                                     "uvicorn.access")) -> None:
    """Put a ScrubFilter on these loggers' handlers (so records propagated from any library pass it) and on
    the relaykit logger itself (so a handler added later, by a test or an embedding app, gets clean records)."""
    for name in loggers:
        logger = logging.getLogger(name)
        targets = [*logger.handlers, logger] if name == "relaykit" else logger.handlers
        for target in targets:
            for f in list(target.filters):
                if isinstance(f, ScrubFilter):
                    target.removeFilter(f)
            target.addFilter(ScrubFilter(scrubber))


async def scrub_marked(chunks: AsyncIterator[bytes], marker: bytes,
                       scrub: Callable[[bytes], bytes], limit: int = 1 << 16) -> AsyncIterator[bytes]:
    """Pass a 2xx SSE stream through untouched, except an event holding `marker` (an upstream's in-band
    error, which may echo a key): that event is held until it ends and sent scrubbed.

    The cost per chunk is a substring search; a marker split across two chunks is still seen. An event
    over `limit` bytes is sent scrubbed in parts.
    """
    held: bytes | None = None  # the marked event so far; None while outside one
    # The last bytes sent, for a marker that straddles two chunks; just a line end when a chunk ended with
    # one (upstreams write whole events, so the usual case), and so at the start too, for a marker anchored
    # to a line start (b"\nevent: error").
    tail = _NL
    n = len(marker)
    after_nl = marker[1:] if marker[:1] == _NL else None
    find = bytes.find  # (`marker in chunk` goes through the buffer protocol: measured 2-3x slower)
    try:
        async for chunk in chunks:
            if held is None:
                if find(chunk, marker) < 0:
                    if tail is _NL:
                        straddles = after_nl is not None and chunk.startswith(after_nl)
                    else:
                        straddles = find(tail + chunk[:n - 1], marker) >= 0
                    if not straddles:
                        tail = _carry(tail, chunk, n)
                        yield chunk
                        continue
                held = b""
            held += chunk
            end = _events_end(held)
            if end > held.rfind(marker):
                yield scrub(held[:end])
                rest, held, tail = held[end:], None, _NL
                if find(rest, marker) >= 0:
                    held = rest
                elif rest:
                    tail = _carry(tail, rest, n)
                    yield rest
            elif len(held) > limit:
                yield scrub(held)
                held = b""
    except Exception:
        if held:  # the stream broke inside the marked event: what came of it still goes out, scrubbed
            yield scrub(held)
        raise
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()  # a client that left closes the upstream now, not when the collector runs
    if held:
        yield scrub(held)


_NL = b"\n"


def _carry(tail: bytes, sent: bytes, n: int) -> bytes:
    """The stream's last n-1 bytes once `sent` has gone out (`_NL` itself when it ended a line)."""
    if sent[-1:] == _NL:
        return _NL
    return sent[1 - n:] if len(sent) >= n - 1 else (tail + sent)[1 - n:]


def _events_end(data: bytes) -> int:
    """The offset just past the last complete SSE event in `data` (blank line, LF or CRLF), or -1."""
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\n\r\n")
    if lf < 0 and crlf < 0:
        return -1
    return lf + 2 if lf > crlf else crlf + 3
