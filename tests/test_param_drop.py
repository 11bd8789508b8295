"""Param drop, unit by unit: a real ParamDrop in front of a fake `next` that records the body it was given."""

from __future__ import annotations

import asyncio

import pytest

from kernel.bodies import drop_path
from kernel.call import Call
from kernel.errors import ClientError, UnsupportedParam
from middleware.param_drop import ParamDrop
from tests.fakes.chain import RecordingNext, make_gateway


def gateway(global_drop: bool = False, **deployment_params):
    return make_gateway({
        "litellm_settings": {"drop_params": global_drop},
        "model_list": [
            {"model_name": "groq-llama", "litellm_params": {"model": "groq/llama-3.3-70b-versatile", "api_key": "k",
                                                            **deployment_params}},
            {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o", "api_key": "k", **deployment_params}},
        ]})


def run(gw, body: dict, model: str = "groq-llama", options: dict | None = None):
    """Send `body` through ParamDrop; returns (what next received, the call afterwards)."""
    call = Call(id="c1", route="chat", endpoint="chat", dialect="openai", gateway=gw, body=body, model=model,
                options=options or {})
    call.deployment = gw.models.lookup(model)[0]
    nxt = RecordingNext()
    asyncio.run(ParamDrop(None, gw)(call, nxt))
    return nxt.bodies[-1], call


BASE = {"model": "groq-llama", "messages": [{"role": "user", "content": "hi"}]}


def test_supported_params_pass_untouched():
    body = {**BASE, "temperature": 0.2, "tools": [], "stream": True}
    sent, _ = run(gateway(), body)
    assert sent is body  # nothing to change: not even a copy


def test_unsupported_param_is_a_400_naming_param_and_provider():
    with pytest.raises(UnsupportedParam) as info:
        run(gateway(), {**BASE, "logprobs": True, "top_logprobs": 2})
    err = info.value
    assert err.status == 400 and err.param == "logprobs"
    assert "'groq'" in err.message and "'logprobs'" in err.message and "'top_logprobs'" in err.message


def test_provider_specific_fields_are_not_openai_params_and_pass():
    sent, _ = run(gateway(), {**BASE, "reasoning_format": "parsed", "safe_prompt": False})
    assert sent["reasoning_format"] == "parsed" and sent["safe_prompt"] is False


def test_provider_without_a_list_takes_everything():
    body = {**BASE, "model": "gpt", "logprobs": True, "logit_bias": {"1": 1}}
    sent, _ = run(gateway(), body, model="gpt")
    assert sent is body


def test_global_drop_params_drops():
    sent, call = run(gateway(global_drop=True), {**BASE, "logprobs": True, "temperature": 1})
    assert "logprobs" not in sent and sent["temperature"] == 1
    assert call.body["logprobs"] is True  # restored afterwards, so a fallback starts from the client's body


def make_gateway_with(*, global_drop: bool, deployment_drop: bool):
    return gateway(global_drop, drop_params=deployment_drop)


def test_deployment_setting_beats_global():
    with pytest.raises(UnsupportedParam):
        run(make_gateway_with(global_drop=True, deployment_drop=False), {**BASE, "logprobs": True})
    sent, _ = run(make_gateway_with(global_drop=False, deployment_drop=True), {**BASE, "logprobs": True})
    assert "logprobs" not in sent


def test_request_setting_beats_deployment():
    gw = make_gateway_with(global_drop=False, deployment_drop=False)
    sent, _ = run(gw, {**BASE, "logprobs": True}, options={"drop_params": True})
    assert "logprobs" not in sent
    gw = make_gateway_with(global_drop=True, deployment_drop=True)
    with pytest.raises(UnsupportedParam):
        run(gw, {**BASE, "logprobs": True}, options={"drop_params": False})


def test_request_drop_params_must_be_boolean():
    with pytest.raises(ClientError) as info:
        run(gateway(), {**BASE, "logprobs": True}, options={"drop_params": "yes"})
    assert info.value.param == "drop_params"


def test_allowed_openai_params_forces_a_param_through():
    sent, _ = run(gateway(allowed_openai_params=["logprobs"]), {**BASE, "logprobs": True})
    assert sent["logprobs"] is True
    sent, _ = run(gateway(), {**BASE, "logprobs": True}, options={"allowed_openai_params": ["logprobs"]})
    assert sent["logprobs"] is True


def test_additional_drop_params_always_dropped_even_if_supported():
    sent, _ = run(gateway(additional_drop_params=["temperature", "tools[*].input_examples"]), {
        **BASE, "temperature": 0.5,
        "tools": [{"type": "function", "function": {"name": "f"}, "input_examples": [{"a": 1}]},
                  {"type": "function", "function": {"name": "g"}}]})
    assert "temperature" not in sent
    assert sent["tools"] == [{"type": "function", "function": {"name": "f"}},
                             {"type": "function", "function": {"name": "g"}}]


def test_additional_drop_params_from_the_request():
    sent, _ = run(gateway(), {**BASE, "user": "u1", "seed": 3}, options={"additional_drop_params": ["user"]})
    assert "user" not in sent and sent["seed"] == 3


def test_drop_path_nested_and_untouched_cases():
    body = {"a": {"b": 1, "c": 2}, "xs": [{"k": 1, "v": 2}, "plain"]}
    assert drop_path(body, "a.b") == {"a": {"c": 2}, "xs": body["xs"]}
    assert drop_path(body, "xs[*].k") == {"a": body["a"], "xs": [{"v": 2}, "plain"]}
    assert drop_path(body, "missing.path") is body
    assert drop_path(body, "xs[*].missing") is body
    assert body == {"a": {"b": 1, "c": 2}, "xs": [{"k": 1, "v": 2}, "plain"]}  # never mutated


def test_each_deployment_checks_its_own_provider():
    gw = gateway()
    sent, _ = run(gw, {**BASE, "model": "gpt", "logprobs": True}, model="gpt")
    assert sent["logprobs"] is True
    with pytest.raises(UnsupportedParam):
        run(gw, {**BASE, "logprobs": True})


def test_no_deployment_or_non_dict_body_passes_through():
    gw = gateway()
    call = Call(id="c1", route="chat", endpoint="chat", dialect="openai", gateway=gw, body=None)
    nxt = RecordingNext()
    asyncio.run(ParamDrop(None, gw)(call, nxt))
    assert nxt.bodies == [None]


def test_nulls_and_openai_defaults_are_dropped_not_refused():
    body = {**BASE, "logprobs": False, "logit_bias": None, "top_logprobs": None, "temperature": 0.1}
    sent, _ = run(gateway(), body)
    assert sent == {**BASE, "temperature": 0.1}


@pytest.mark.parametrize("param,value", [("logprobs", True), ("logprobs", 0), ("logit_bias", {}),
                                         ("top_logprobs", 0)])
def test_a_value_that_asks_for_something_is_still_refused(param, value):
    with pytest.raises(UnsupportedParam) as info:
        run(gateway(), {**BASE, param: value})
    assert info.value.param == param
