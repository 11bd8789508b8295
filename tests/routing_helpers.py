"""Helpers shared by the router tests: model_list entries aimed at a fake upstream, and plain HTTP calls."""

from __future__ import annotations

from importlib import resources

import httpx
import openai
import yaml

MESSAGES = [{"role": "user", "content": "hi"}]


def dep(name: str, upstream_model: str, url: str, key: str = "sk-up", **params) -> dict:
    """A model_list entry for an OpenAI-compatible fake at `url`, answering as `upstream_model`."""
    entry = {"model_name": name, "litellm_params": {"model": "openai/" + upstream_model, "api_base": url + "/v1",
                                                   "api_key": key}}
    info = params.pop("model_info", None)
    if info is not None:
        entry["model_info"] = info
    entry["litellm_params"].update(params)
    return entry


def chat(gw, model: str, **body) -> httpx.Response:
    payload = {"model": model, "messages": MESSAGES, **body}
    return httpx.post(gw.url + "/v1/chat/completions", json=payload, timeout=30)


def sdk(gw) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-1234", base_url=gw.url + "/v1", max_retries=0)


def routing(gw):
    """The gateway's own RoutingContext (its cooldowns and stats), read from the running app."""
    return gw.server.config.app.gateway.shared["routing"]


def answered_by(resp: httpx.Response) -> str:
    return resp.json()["model"]


class KeepCalls:
    """A link of the test's own, loaded by import path as a user's would be: keeps every Call it passes on (in
    the gateway's shared state), so a test can read what the chain recorded on it, such as its attempts."""

    def __init__(self, options, gateway) -> None:
        self.kept = gateway.shared.setdefault("kept_calls", [])

    async def __call__(self, call, next):
        self.kept.append(call)
        return await next(call)


def keeping_pipelines() -> dict:
    """The built-in pipelines with KeepCalls right inside encode, so it sees each Call as the app made it."""
    pipelines = yaml.safe_load(resources.files("kernel").joinpath("pipelines.yaml").read_text())
    pipelines["chains"]["model_call"].insert(1, "tests.routing_helpers:KeepCalls")
    return pipelines


def delays(gw) -> list[float]:
    """Every failed attempt's backoff (Attempt.delay: what the retry after it waited), over every call kept."""
    return [a.delay for call in gw.server.config.app.gateway.shared["kept_calls"] for a in call.attempts]
