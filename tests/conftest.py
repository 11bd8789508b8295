"""Shared fixtures: a fake OpenAI upstream on loopback, and a way to start the real gateway in front of it."""

from __future__ import annotations

import pytest

from kernel import registry
from tests.fakes.openai_upstream import FakeOpenAI
from tests.servers import ServerThread, gateway

registry.load_plugins()


@pytest.fixture(scope="session")
def openai_upstream():
    fake = FakeOpenAI()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def fake_openai(openai_upstream):
    openai_upstream.clear()
    return openai_upstream


@pytest.fixture
def start_gateway(tmp_path):
    """Start relaykit with a config dict; every server started is stopped after the test."""
    started = []

    def start(config: dict | None, **kw) -> ServerThread:
        server = gateway(config, tmp_path, **kw).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)
