"""Call sinks: where the meter sends each finished call's record, beside the spend writer (metrics, logs, traces).

A sink is told when a call starts and when it finishes, with the record (the spend-log row's fields: ids, key
hash and alias, team, user, model group, deployment, provider, tokens, cost, times, status, error type,
metadata) and, for a whole answer, the Reply. Both run on the request path, so a sink does O(1) work and hands
anything slow to its own background task; an exception in a sink is logged and never reaches the client.
Sinks register at start-up with `sinks_of(gateway).append(sink)`, or, for a sink the config switches on, with a
factory (`@sink_factory`) that reads the gateway's settings and returns the sinks it builds (none when the config
does not ask for them): factories run once per gateway, when the first link asks for its sinks. The meter runs
whenever a sink is registered, with or without key management.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol


class CallSink(Protocol):
    def start(self, call: Any) -> None: ...

    def finish(self, call: Any, record: dict[str, Any], reply: Any | None) -> None:
        """`reply` is the Reply of a whole answer; None for a stream (already sent) or a failure."""


SINK_FACTORIES: list[Callable[[Any], Iterable[CallSink]]] = []


def sink_factory(fn: Callable[[Any], Iterable[CallSink]]) -> Callable[[Any], Iterable[CallSink]]:
    """Decorator: `fn(gateway)` returns the sinks the gateway's config asks for (middleware/observe uses it)."""
    SINK_FACTORIES.append(fn)
    return fn


def sinks_of(gateway) -> list[CallSink]:
    """The gateway's call sinks (a list the meter reads on every call, so sinks may register after it is built)."""
    sinks = gateway.shared.get("call_sinks")
    if sinks is None:
        sinks = gateway.shared["call_sinks"] = []
        for factory in SINK_FACTORIES:
            sinks.extend(factory(gateway))
    return sinks
