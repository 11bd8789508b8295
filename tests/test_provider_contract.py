"""The contract every registered provider passes: the Provider protocol (kernel/plugins.py), then request,
response, stream and error fixtures.

The protocol part holds every registered provider and dialect to the documented pieces, and shows that one
missing a piece, or with one of the wrong type, is refused at registration (a real relaykit process started
with such a plugin installed stops, naming it). Snapshots pin the exact upstream request for a table of
canonical requests, and the canonical result for recorded upstream responses and streams. Re-record with
`pytest --snapshot-update` only for a reviewed change.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from kernel import errors, plugins, registry
from kernel.plugins import DialectBase, ProviderBase
from tests.contract import (
    FIXTURES,
    call_for,
    collect_stream,
    deployment_for,
    load_contract,
    read_fixture,
    request_snapshot,
)
from tests.servers import free_port

registry.load_plugins()
ROOT = Path(__file__).parent.parent
UPSTREAM_PROVIDERS = sorted(name for name, p in registry.PROVIDERS.items() if not p.local)


def cases(section: str):
    out = []
    for name in UPSTREAM_PROVIDERS:
        if not (FIXTURES / name / "contract.yaml").exists():
            continue
        for case in load_contract(name).get(section) or ():
            out.append(pytest.param(name, case, id=f"{name}-{case['name']}"))
    return out


@pytest.mark.parametrize("name", sorted(registry.PROVIDERS))
def test_every_provider_is_one_instance_of_the_protocol(name):
    p = registry.PROVIDERS[name]
    assert isinstance(p, ProviderBase) and not isinstance(p, type), f"{name}: an instance of a ProviderBase class"
    plugins.check_provider(name, p)  # what registration ran, run again on what is registered
    needed = ["answer"] if p.local else ["build_request", "parse_response", "parse_stream", "parse_error"]
    if p.forwards:
        needed += ["forward_url", "auth_headers"]
    assert all(callable(getattr(p, piece)) for piece in needed)
    assert p.supported_params is None or isinstance(p.supported_params, frozenset)
    assert p.endpoints and isinstance(p.endpoints, frozenset)


@pytest.mark.parametrize("name", sorted(registry.DIALECTS))
def test_every_dialect_is_one_instance_of_the_protocol(name):
    d = registry.DIALECTS[name]
    assert isinstance(d, DialectBase) and not isinstance(d, type)
    plugins.check_dialect(name, d)
    assert d.name == name


def test_the_guide_documents_every_piece_of_both_protocols():
    guide = (ROOT / "docs" / "adding-a-provider.md").read_text()
    rows = {line.split("|")[1].strip().strip("`").split("(")[0] for line in guide.splitlines() if line.startswith("| `")}
    assert set(plugins.PROVIDER_PIECES) <= rows, set(plugins.PROVIDER_PIECES) - rows
    assert set(plugins.DIALECT_PIECES) <= rows, set(plugins.DIALECT_PIECES) - rows


class Fits(ProviderBase):
    """A provider that fits the contract; the broken ones below each change one thing."""

    name = "broken"
    endpoints = frozenset({"chat"})

    def build_request(self, call, d): ...
    def parse_response(self, call, data): ...
    async def parse_stream(self, call, chunks):
        yield {}
    def parse_error(self, status, headers, data, d): ...


class NoParseError(ProviderBase):
    name = "broken"
    endpoints = frozenset({"chat"})
    build_request = Fits.build_request
    parse_response = Fits.parse_response
    parse_stream = Fits.parse_stream


def _with(**attrs):
    return type("Broken", (Fits,), attrs)()


def _sync_prepare(d, upstream):
    return d


@pytest.mark.parametrize(("provider", "named"), [
    (NoParseError(), "parse_error is missing"),
    (_with(supported_params={"temperature"}), "supported_params must be a frozenset of parameter names, or None, not set"),
    (_with(endpoints=["chat"]), "endpoints must be a frozenset of endpoint names, not list"),
    (_with(key_env=7), "key_env must be an environment variable name, or None, not int"),
    (_with(config_env={"aws_region_name": "AWS_REGION"}), "config_env must be a mapping of config key"),
    (_with(prepare=staticmethod(_sync_prepare)), "prepare must be an async function"),
    (_with(local="yes"), "local must be True or False, not str"),
    (_with(local=True), "answer is missing"),
    (_with(forwards=True), "forward_url is missing (it must be a function); auth_headers is missing"),
    (_with(name="acme"), "name is 'acme', but it is registered as 'broken'"),
    (Fits, "Fits is a class: register an instance of it"),
], ids=["missing-parse_error", "set-params", "list-endpoints", "int-key_env", "flat-config_env", "sync-prepare",
        "str-local", "local-without-answer", "forwards-without-urls", "wrong-name", "a-class"])
def test_a_provider_that_breaks_the_contract_is_refused_naming_it(provider, named):
    with pytest.raises(TypeError) as info:
        registry.register_provider("broken", provider)
    assert str(info.value).startswith("provider 'broken' does not fit the Provider contract")
    assert named in str(info.value)
    assert "broken" not in registry.PROVIDERS


def test_every_problem_is_named_at_once():
    with pytest.raises(TypeError) as info:
        registry.register_provider("broken", type("Broken", (NoParseError,), {"supported_params": {"n"}})())
    assert "supported_params must be" in str(info.value) and "parse_error is missing" in str(info.value)


def test_a_provider_that_fits_is_registered():
    try:
        registry.register_provider("broken", Fits())
        assert isinstance(registry.PROVIDERS["broken"], Fits)
    finally:
        registry.PROVIDERS.pop("broken", None)


class NoEncodeError(DialectBase):
    name = "broken"
    wire = "openai"

    async def decode(self, call): ...
    def encode(self, call, reply): ...


@pytest.mark.parametrize(("dialect", "named"), [
    (NoEncodeError(), "encode_error is missing"),
    (type("SyncDecode", (NoEncodeError,), {"decode": lambda self, call: None, "encode_error": lambda self, e: b""})(),
     "decode must be an async function"),
    (type("AsyncJson", (NoEncodeError,), {"decode_json": NoEncodeError.decode, "encode_error": lambda self, e: b""})(),
     "decode_json must be a synchronous function (call), or None"),
])
def test_a_dialect_that_breaks_the_contract_is_refused_naming_it(dialect, named):
    with pytest.raises(TypeError) as info:
        registry.register_dialect("broken", dialect)
    assert str(info.value).startswith("dialect 'broken' does not fit the Dialect contract")
    assert named in str(info.value)
    assert "broken" not in registry.DIALECTS


# A provider shipped as a package of its own: a module and the entry point that announces it to relaykit.
PLUGIN = """
    \"\"\"Acme, an OpenAI-format API at ACME_API_BASE, as a third-party relaykit plugin.\"\"\"
    import orjson

    from kernel.guards.answers import checked
    from kernel.plugins import ProviderBase
    from kernel.registry import register_provider
    from kernel.sse import sse_events
    from kernel.upstream import UpstreamRequest
    from providers.openai_errors import parse_openai_error


    class Acme(ProviderBase):
        name = "acme"
        endpoints = frozenset({"chat"})
        base_env = "ACME_API_BASE"
        supported_params = frozenset({"temperature", "max_tokens"})

        def build_request(self, call, d):
            body = orjson.dumps({**call.body, "model": d.upstream_model})
            return UpstreamRequest("POST", d.api_base + "/chat/completions", {"content-type": "application/json"},
                                   content=body, stream=call.stream)

        def parse_response(self, call, data):
            return checked(call, data, "openai")

        async def parse_stream(self, call, chunks):
            async for _event, data in sse_events(chunks):
                if data != b"[DONE]":
                    yield orjson.loads(data)
    {parse_error}

    register_provider("acme", Acme())
"""
PARSE_ERROR = """
        def parse_error(self, status, headers, data, d):
            return parse_openai_error(status, headers, data, d)
"""


def _install(tmp_path: Path, parse_error: str) -> dict:
    """Write the plugin and its dist-info where `importlib.metadata` finds them; the environment to run with."""
    (tmp_path / "acme_plugin.py").write_text(textwrap.dedent(PLUGIN.replace("{parse_error}", parse_error)))
    info = tmp_path / "acme_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[relaykit.plugins]\nacme = acme_plugin\n")
    path = os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def test_relaykit_with_a_broken_provider_installed_stops_at_start_up_naming_it(tmp_path, fake_openai):
    env = {**_install(tmp_path, ""), "ACME_API_BASE": fake_openai.url + "/v1"}
    proc = subprocess.run([sys.executable, "-m", "kernel.serve.cli", "--model", "acme/m", "--host", "127.0.0.1",
                           "--port", "0"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode != 0
    assert "TypeError: provider 'acme' does not fit the Provider contract" in proc.stderr
    assert "parse_error is missing" in proc.stderr
    assert "listening on" not in proc.stdout
    assert fake_openai.requests == []


def test_a_provider_that_fills_the_protocol_is_served_from_its_own_package(tmp_path, fake_openai):
    env = {**_install(tmp_path, PARSE_ERROR), "ACME_API_BASE": fake_openai.url + "/v1"}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kernel.serve.cli", "--model", "acme/m", "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while "listening on" not in (proc.stdout.readline() or "listening on"):
            assert time.monotonic() < deadline, "relaykit did not start"
        assert proc.poll() is None, proc.stderr.read()
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        reply = httpx.post(url, json={"model": "anything", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["message"]["role"] == "assistant"
        assert [(r["path"], r["body"]["model"]) for r in fake_openai.requests] == [("/v1/chat/completions", "m")]
        refused = httpx.post(url, json={"model": "anything", "messages": [{"role": "user", "content": "hi"}], "top_p": 1},
                             timeout=30)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "top_p"  # its supported_params
        assert len(fake_openai.requests) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("provider", UPSTREAM_PROVIDERS)
def test_every_provider_has_a_contract(provider):
    path = FIXTURES / provider / "contract.yaml"
    assert path.exists(), f"provider {provider!r} has no {path.relative_to(FIXTURES.parent)}"
    contract = load_contract(provider)
    assert contract.get("requests"), "a contract needs at least one request case"
    assert contract.get("errors"), "a contract needs at least one error case"
    endpoints = registry.PROVIDERS[provider].endpoints
    if "chat" in endpoints:
        assert contract.get("responses") and contract.get("streams"), "a chat provider needs response and stream cases"


@pytest.mark.parametrize(("provider", "case"), cases("requests"))
def test_request(provider, case, json_snapshot):
    contract = load_contract(provider)
    p = registry.PROVIDERS[provider]
    req = p.build_request(call_for(case), deployment_for(contract))
    assert req.url.startswith(("http://", "https://"))
    assert request_snapshot(req) == json_snapshot


@pytest.mark.parametrize(("provider", "case"), cases("responses"))
def test_response(provider, case, json_snapshot):
    contract = load_contract(provider)
    p = registry.PROVIDERS[provider]
    out = p.parse_response(call_for(case), read_fixture(contract, case))
    assert out == json_snapshot


@pytest.mark.parametrize(("provider", "case"), cases("streams"))
def test_stream(provider, case, json_snapshot):
    contract = load_contract(provider)
    p = registry.PROVIDERS[provider]
    chunks = collect_stream(p, call_for({**case, "stream": True}), read_fixture(contract, case))
    assert chunks, "a recorded stream must decode to at least one chunk"
    assert chunks == json_snapshot


@pytest.mark.parametrize(("provider", "case"), cases("errors"))
def test_error(provider, case):
    contract = load_contract(provider)
    p = registry.PROVIDERS[provider]
    d = deployment_for(contract)
    err = p.parse_error(case["status"], case.get("headers") or {}, read_fixture(contract, case), d)
    expect = case["expect"]
    assert type(err).__name__ == expect["type"]
    assert isinstance(err, errors.UpstreamError)
    assert err.status == expect["status"]
    assert d.api_key is None or d.api_key not in err.message  # the key never leaks into an error
    if "retryable" in expect:
        assert err.retryable is expect["retryable"]
