"""meter: what each call used and cost, told to the links that count it and written to the spend log.

It sits outside `fallback`, so it sees the deployment that finally answered, and inside the key check and the
model check, so a refused key costs no row. For a whole answer it reads the usage the provider reported
(from what normalize already parsed), prices it, and adds `x-relaykit-response-cost` / `x-litellm-response-cost`
and the key's spend to the reply headers. A stream is watched as it passes: its usage event is read at the
end (relaykit asks the upstream for one where the client did not, and keeps it from that client), or, when
the provider sends none, the usage is estimated and marked so. Then the `Call.on_done` hooks run (limits,
budgets), exactly once, whether the call succeeded, failed, or the client went away mid-stream, and the row
goes to the spend writer and to every call sink (sinks.py: metrics, logs). It runs with key management, or
when a sink is registered; otherwise it steps aside. Nothing here waits on the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from kernel.call import Call, Next, Reply
from kernel.errors import GatewayError
from kernel.registry import middleware
from middleware.routing.context import routing_of
from middleware.spend import extract
from middleware.spend.prices import PriceBook
from middleware.spend.sinks import sinks_of
from middleware.spend.state import spend_of
from middleware.spend.usage import Spend, Usage

log = logging.getLogger("relaykit.spend")

COST_HEADERS = ("x-relaykit-response-cost", "x-litellm-response-cost")
KEY_SPEND_HEADERS = ("x-relaykit-key-spend", "x-litellm-key-spend")
# Providers whose adapters honour stream_options.include_usage (OpenAI's wire, or a translation that emits the
# usage chunk when asked); for the rest the usage of a stream is read if sent, estimated if not.
STREAM_USAGE = frozenset({"openai", "azure", "anthropic", "gemini", "vertex_ai", "bedrock", "echo"})
_USAGE_ENDPOINTS = frozenset({"chat", "completions"})
_CALL_TYPES = {"anthropic": "messages", "responses": "responses"}  # dialects whose calls are decoded into chat


@middleware("meter")
class Meter:
    def __init__(self, options, gateway) -> None:
        self.state = spend_of(gateway)  # None without key management: no ledger, no spend log
        self.sinks = sinks_of(gateway)
        self.prices = PriceBook.of(gateway)
        self.routing = routing_of(gateway)
        self.scrubber = gateway.scrubber

    async def __call__(self, call: Call, next: Next) -> Reply:
        sinks = self.sinks
        if self.state is None and not sinks:
            return await next(call)
        for sink in sinks:
            _safely(sink.start, call)
        spend = call.spend = Spend()
        hidden = self._ask_for_usage(call)
        try:
            reply = await next(call)
        except GatewayError as err:
            self.finish(call, None, err.type, None, message=err.message)
            raise
        except BaseException:
            self.finish(call, None, "cancelled", None)
            raise
        if reply.stream is not None and reply.wire != "binary":
            reply.stream = self._watch(call, reply.stream, reply.wire is not None, hidden)
            return reply
        usage = self._usage_of(call, reply)
        self.finish(call, usage, None, None, reply)
        headers = call.reply_headers
        cost = f"{spend.cost:.10g}"
        headers[COST_HEADERS[0]] = headers[COST_HEADERS[1]] = cost
        if call.caller is not None:
            headers[KEY_SPEND_HEADERS[0]] = headers[KEY_SPEND_HEADERS[1]] = f"{self._key_spend(call):.10g}"
        return reply

    # -- usage ---------------------------------------------------------------------------------------------------

    def _ask_for_usage(self, call: Call) -> bool:
        """Ask the upstream for a stream's usage the client did not ask for; True when the client must not see it."""
        if not call.stream or call.endpoint not in _USAGE_ENDPOINTS or not isinstance(call.body, dict):
            return False
        options = call.body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            return False
        if options is not None and not isinstance(options, dict):
            return False  # the dialect's check answers for a malformed value; do not paper over it
        try:
            group = self.routing.group(call)
        except GatewayError:
            return False
        if not group or any(d.provider not in STREAM_USAGE for d in group):
            return False
        # A new dict: the same-wire fast path then sends this body, not the client's bytes.
        call.body = {**call.body, "stream_options": {**(options or {}), "include_usage": True}}
        return True

    def _usage_of(self, call: Call, reply: Reply) -> Usage | None:
        endpoint = call.endpoint
        if endpoint == "speech":
            return extract.for_speech(call.body)
        body = reply.body if reply.body is not None else reply.parsed
        usage = extract.from_body(endpoint, body, call.body)
        if usage is None and body is None and reply.raw is not None and reply.wire != "binary":
            usage = _usage_in_raw(reply.raw, endpoint, call.body)
        if usage is None and endpoint in _USAGE_ENDPOINTS | {"messages", "responses", "embeddings"}:
            usage = extract.estimate(call.body, len(call.raw), 0)
        return usage

    # -- streams -------------------------------------------------------------------------------------------------

    async def _watch(self, call: Call, stream: AsyncIterator[Any], raw: bool, hidden: bool) -> AsyncIterator[Any]:
        """The stream as it was, minus a usage event the client did not ask for; settles the call at its end.
        `raw`: upstream SSE bytes (the same-wire fast path), else canonical chunk dicts."""
        usage: Usage | None = None
        events = 0
        first_at = None
        error = "cancelled"  # until the stream ends on its own: the client went away
        message = None
        pending = b""  # the unfinished last line of a raw chunk that holds a usage event
        try:
            async for chunk in stream:
                if first_at is None:
                    first_at = time.perf_counter()
                if raw:
                    events += chunk.count(b"data:")
                    if b'"usage"' in chunk or pending:
                        chunk, pending, found = _raw_usage(pending + chunk, hidden)
                        if found is not None:
                            usage = extract.merge(usage, found)
                        if not chunk:
                            continue
                elif isinstance(chunk, dict):
                    found = chunk.get("usage")
                    if found:
                        usage = extract.merge(usage, extract.from_usage(found))
                        if hidden and not chunk.get("choices"):
                            continue
                    events += 1
                yield chunk
            if pending:
                yield pending
            error = None
        except GatewayError as err:
            error, message = err.type, err.message
            raise
        finally:
            if usage is None and error in (None, "cancelled"):
                usage = extract.estimate(call.body, len(call.raw), events)
            self.finish(call, usage, error, first_at, message=message)
            aclose = getattr(stream, "aclose", None)
            if aclose is not None and error == "cancelled":
                try:
                    await aclose()
                except Exception:  # the upstream's own close may fail again; the call is already settled
                    pass

    # -- settling ------------------------------------------------------------------------------------------------

    def finish(self, call: Call, usage: Usage | None, error: str | None, first_at: float | None,
               reply: Reply | None = None, message: str | None = None) -> None:
        """Price the call, run its on_done hooks once, queue its spend row and tell the sinks. `message`: a failure's
        error text, told to the sinks (not a spend-log column) with every secret masked as `error_message`."""
        spend = call.spend
        if spend is None or spend.done:
            return
        spend.done = True
        state = self.state
        d = call.deployment
        ok = error is None or (error == "cancelled" and usage is not None and first_at is not None)
        if not ok:
            usage = None
        if usage is not None and d is not None:
            spend.cost = self.prices.cost(d, call.endpoint, usage, call.body if isinstance(call.body, dict) else None)
            spend.estimated = usage.estimated
        hooks = call.on_done
        if hooks:
            for fn in hooks:
                try:
                    fn(usage)
                except Exception:  # one link's bookkeeping bug must not break another's, nor the answer
                    log.exception("call %s: an on_done hook failed", call.id)
        call.on_done = None
        record = self._row(call, usage, error, ok, first_at)
        if state is not None:
            state.writer.add(record, tuple(spend.charged))
        sinks = self.sinks
        if sinks and message is not None:
            record = {**record, "error_message": self.scrubber.scrub(message, call)}
        for sink in sinks:
            _safely(sink.finish, call, record, reply)

    def _row(self, call: Call, usage: Usage | None, error: str | None, ok: bool,
             first_at: float | None) -> dict[str, Any]:
        now = time.perf_counter()
        started = call.started or now
        wall_end = time.time()
        caller = call.caller
        key = caller.key if caller is not None else None
        d = call.deployment
        u = usage or Usage()
        body = call.body if isinstance(call.body, dict) else {}
        end_user = body.get("user")
        tags = call.metadata.get("tags") if isinstance(call.metadata, dict) else None
        return {
            # /v1/messages and /v1/responses are decoded into chat calls; the log names the API the client called.
            "request_id": call.id, "call_type": _CALL_TYPES.get(call.dialect, call.endpoint),
            "api_key": key.token if key is not None else "", "key_alias": key.key_alias if key else None,
            "team_id": key.team_id if key else None, "user_id": key.user_id if key else None,
            "end_user": end_user if isinstance(end_user, str) else None,
            "model_group": call.model, "model": d.upstream_model if d is not None else "",
            "model_id": d.id if d is not None else None, "provider": d.provider if d is not None else None,
            "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "cache_read_tokens": u.cache_read_tokens, "cache_creation_tokens": u.cache_creation_tokens,
            "total_tokens": u.total_tokens, "spend": call.spend.cost, "cost_estimated": u.estimated,
            "start_time": datetime.fromtimestamp(wall_end - (now - started), UTC),
            "end_time": datetime.fromtimestamp(wall_end, UTC), "latency_ms": (now - started) * 1000,
            "ttft_ms": (first_at - started) * 1000 if first_at is not None else None,
            "status": "success" if ok else "failure", "error_type": error,
            "metadata": dict(call.metadata) if isinstance(call.metadata, dict) else {},
            "request_tags": list(tags) if isinstance(tags, list) else [],
        }

    def _key_spend(self, call: Call) -> float:
        """The key's spend with this call in it: its budget account when it has one, else its record's."""
        for account, _ in call.spend.charged:
            if account.table is not None and account.ident == call.caller.key.token:
                return account.spent
        return call.caller.key.limits.spend + call.spend.cost


def _safely(fn, *args) -> None:
    try:
        fn(*args)
    except Exception:  # a sink's bug must not fail the call or stop the other sinks
        log.exception("call sink %r failed", fn)


def _usage_in_raw(raw: bytes, endpoint: str, request: Any) -> Usage | None:
    import orjson

    try:
        return extract.from_body(endpoint, orjson.loads(raw), request)
    except orjson.JSONDecodeError:
        return None


def _raw_usage(data: bytes, hidden: bool) -> tuple[bytes, bytes, Usage | None]:
    """Split raw SSE bytes into (what to pass on now, an unfinished last line to hold, the usage they carry).

    Only called for chunks that mention usage (or finish a held line), so ordinary chunks pass untouched.
    A line is held back only until its end arrives; the event the client did not ask for is dropped whole."""
    end = data.rfind(b"\n") + 1
    done, pending = data[:end], data[end:]
    if not pending.startswith(b"data:") or not (hidden or b'"usage"' in pending):
        done, pending = data, b""  # nothing to wait for: an unfinished line without usage goes on at once
    found = None
    if b'"usage"' in done:
        out = []
        for line in done.split(b"\n"):
            if line.startswith(b"data:") and b'"usage"' in line and b'"usage":null' not in line:
                usage = extract.from_sse_line(line)
                if usage is not None:
                    found = extract.merge(found, usage)
                    if hidden and b'"choices":[]' in line.replace(b" ", b""):
                        out.append(None)  # marks the dropped line, so its blank separator goes with it
                        continue
            out.append(line)
        if None in out:
            kept = []
            skip_blank = False
            for line in out:
                if line is None:
                    skip_blank = True
                    continue
                if skip_blank and line in (b"", b"\r"):
                    skip_blank = False
                    continue
                skip_blank = False
                kept.append(line)
            done = b"\n".join(kept)
    return done, pending, found
