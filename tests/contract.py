"""Load provider contract fixtures (tests/fixtures/<provider>/contract.yaml) and run a provider against them.

A contract.yaml holds:
  deployment: litellm_params for the deployment under test (model: "<provider>/<name>", keys, api_base, ...)
  requests:  [{name, endpoint, stream?, body, headers?}]   canonical request → snapshot of the upstream request
  responses: [{name, endpoint, file}]                       recorded upstream body → snapshot of the canonical body
  streams:   [{name, endpoint, file}]                       recorded upstream stream → snapshot of canonical chunks
  errors:    [{name, status, headers?, file | body, expect: {type, status}}]
`file` is relative to the fixture folder and read as bytes exactly as the upstream sent them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import yaml

from kernel.call import Call
from kernel.config import build_deployment

FIXTURES = Path(__file__).parent / "fixtures"


def load_contract(provider: str) -> dict:
    path = FIXTURES / provider / "contract.yaml"
    data = yaml.safe_load(path.read_text())
    data["_dir"] = path.parent
    return data


def deployment_for(contract: dict):
    problems: list[str] = []
    d = build_deployment({"model_name": "contract-model", "litellm_params": contract["deployment"]}, 0,
                         problems, [], "contract.yaml")
    assert not problems, problems
    return d


def call_for(case: dict) -> Call:
    body = case.get("body") or {}
    raw = orjson.dumps(body)
    call = Call(id="call-contract", route=case["endpoint"], endpoint=case["endpoint"],
                dialect=case.get("dialect", "openai"), headers=case.get("headers") or {}, raw=raw,
                body=body, model=body.get("model"), stream=bool(case.get("stream", body.get("stream", False))))
    return call


def read_fixture(contract: dict, case: dict) -> bytes:
    if "file" in case:
        return (contract["_dir"] / case["file"]).read_bytes()
    body = case.get("body", b"")
    return body.encode() if isinstance(body, str) else orjson.dumps(body)


def request_snapshot(req) -> dict:
    """The upstream request as a reviewer wants to read it: secrets masked, JSON bodies parsed."""
    content = req.content
    if isinstance(content, bytes):
        try:
            content = orjson.loads(content)
        except orjson.JSONDecodeError:
            content = content.decode("utf-8", "replace")
    return {"method": req.method, "url": req.url, "headers": req.masked_headers(), "body": content,
            "stream": req.stream, "data": req.data}


def collect_stream(provider, call: Call, data: bytes, piece: int = 7) -> list[dict]:
    """Feed recorded stream bytes in small pieces (as a network would) and collect the canonical chunks."""

    async def chunks():
        for i in range(0, len(data), piece):
            yield data[i:i + piece]

    async def run():
        return [c async for c in provider.parse_stream(call, chunks())]

    return asyncio.run(run())
