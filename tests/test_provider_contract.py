"""The contract every registered upstream provider passes: request, response, stream and error fixtures.

Snapshots pin the exact upstream request for a table of canonical requests, and the canonical result for
recorded upstream responses and streams. Re-record with `pytest --snapshot-update` only for a reviewed change.
"""

from __future__ import annotations

import pytest

from kernel import errors, registry
from tests.contract import (
    FIXTURES,
    call_for,
    collect_stream,
    deployment_for,
    load_contract,
    read_fixture,
    request_snapshot,
)

registry.load_plugins()
UPSTREAM_PROVIDERS = sorted(name for name, p in registry.PROVIDERS.items() if not p.local)


def cases(section: str):
    out = []
    for name in UPSTREAM_PROVIDERS:
        if not (FIXTURES / name / "contract.yaml").exists():
            continue
        for case in load_contract(name).get(section) or ():
            out.append(pytest.param(name, case, id=f"{name}-{case['name']}"))
    return out


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
