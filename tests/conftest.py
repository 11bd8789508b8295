"""Shared fixtures: a fake OpenAI upstream on loopback, and a way to start the real gateway in front of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.extensions.amber import AmberSnapshotExtension
from syrupy.extensions.json import JSONSnapshotExtension

from kernel import registry
from tests.fakes.anthropic_upstream import FakeAnthropic
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


@pytest.fixture(scope="session")
def anthropic_upstream():
    fake = FakeAnthropic()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def fake_anthropic(anthropic_upstream):
    anthropic_upstream.clear()
    return anthropic_upstream


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


class _SnapshotsDir(AmberSnapshotExtension):
    """Keep every snapshot under tests/snapshots/, where reviewers look for wire formats."""

    snapshot_dirname = "snapshots"


@pytest.fixture
def snapshot(snapshot):
    return snapshot.use_extension(_SnapshotsDir)


class _JSONSnapshotsDir(JSONSnapshotExtension):
    """One JSON file per snapshot under tests/snapshots/<test module>/: wire formats read as JSON, and
    providers recorded in parallel never rewrite each other's files."""

    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(Path(test_location.filepath).parent / "snapshots" / test_location.basename)


@pytest.fixture
def json_snapshot(snapshot):
    return snapshot.use_extension(_JSONSnapshotsDir)


JS_CLIENTS = Path(__file__).parent / "clients" / "js"


@pytest.fixture(scope="session")
def js_clients() -> Path:
    """tests/clients/js with its npm packages installed (once per run); skips, saying why, without Node."""
    import shutil
    import subprocess

    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed on this machine")
    if not (JS_CLIENTS / "node_modules" / "openai").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=JS_CLIENTS, check=True, timeout=300)
    return JS_CLIENTS


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """(backend, url) of a real, empty database: SQLite in tmp_path, PostgreSQL in a scratch schema (or a skip)."""
    from tests.stores import postgres_schema

    if request.param == "sqlite":
        yield "sqlite", f"sqlite:///{tmp_path / 'store' / 'relaykit.db'}"
        return
    with postgres_schema() as url:
        yield "postgresql", url
