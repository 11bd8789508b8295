"""The router middleware with a fake `next`: first-chunk handling of streams and what it records."""

from __future__ import annotations

import asyncio

import pytest

from kernel.call import Call, Reply
from kernel.config import parse_config
from kernel.errors import UpstreamTimeout, UpstreamUnavailable
from kernel.state import Gateway
from middleware.routing.router import Router

CONFIG = {"model_list": [{"model_name": "m", "litellm_params": {"model": "openai/x", "api_base": "http://127.0.0.1:9",
                                                               "stream_timeout": 0.05}}],
          "router_settings": {"allowed_fails": 0, "routing_strategy": "least-busy"}}


def setup():
    gateway = Gateway(parse_config(CONFIG, "c"))
    return Router(None, gateway), Call(id="1", route="chat", endpoint="chat", dialect="openai", model="m", stream=True)


async def chunks(*items, fail=None, delay=0.0):
    await asyncio.sleep(delay)
    if fail is not None:
        raise fail
    for item in items:
        yield item


def run(router, call, stream):
    async def next_(c):
        return Reply(stream=stream, wire="openai")

    async def go():
        reply = await router(call, next_)
        return [c async for c in reply.stream]

    return asyncio.run(go())


def test_stream_passes_through_whole():
    router, call = setup()
    assert run(router, call, chunks(b"a", b"b")) == [b"a", b"b"]
    assert [s.in_flight for s in router.rc.state.stats.values()] == [0]


def test_empty_stream_is_an_empty_stream():
    router, call = setup()
    assert run(router, call, chunks()) == []
    assert [s.in_flight for s in router.rc.state.stats.values()] == [0]


def test_failure_before_first_chunk_is_raised_and_counted():
    router, call = setup()
    with pytest.raises(UpstreamUnavailable):
        run(router, call, chunks(fail=UpstreamUnavailable("gone", deployment="x")))
    assert [a.error for a in call.attempts] == ["UpstreamUnavailable"]
    assert len(router.rc.state.cooling) == 1  # allowed_fails 0
    assert [s.in_flight for s in router.rc.state.stats.values()] == [0]


def test_no_first_chunk_within_stream_timeout_is_a_timeout():
    router, call = setup()
    with pytest.raises(UpstreamTimeout):
        run(router, call, chunks(b"late", delay=1.0))
    assert [a.error for a in call.attempts] == ["UpstreamTimeout"]


def test_failure_after_first_chunk_travels_in_the_stream_and_still_counts():
    router, call = setup()

    async def broken():
        yield b"first"
        raise UpstreamUnavailable("cut", deployment="x")

    with pytest.raises(UpstreamUnavailable):
        run(router, call, broken())
    assert len(router.rc.state.cooling) == 1
    assert [s.in_flight for s in router.rc.state.stats.values()] == [0]
