"""Each retry, fallback and param-drop try runs on its own copy of the Call; what it decided is adopted back.

The real Retry, Fallback and ParamDrop links in front of a fake `next` that plays router + upstream: it picks a
deployment, spends upstream time and fails or answers as told.
"""

from __future__ import annotations

from kernel.call import Reply
from kernel.errors import UpstreamUnavailable
from middleware.param_drop import ParamDrop
from middleware.routing.fallback import Fallback
from middleware.routing.retry import Retry
from tests.fakes.chain import make_call, make_gateway

BODY = {"model": "a", "messages": [{"role": "user", "content": "hi"}], "temperature": 1.0}


def gateway():
    entry = {"model_name": "a", "litellm_params": {"model": "openai/x", "api_base": "http://127.0.0.1:9", "api_key": "k"}}
    return make_gateway({"model_list": [entry, {**entry, "model_name": "b"}, {**entry, "model_name": "c"},
                                        {"model_name": "g", "litellm_params": {"model": "groq/llama", "api_key": "k"}}],
                         "router_settings": {"num_retries": 2, "retry_after": 0.001, "allowed_fails": 100,
                                             "fallbacks": [{"a": ["b", "c"]}]}})


class FakeRoute:
    """Routes each try to the first deployment of its model, spends 1 s of upstream time, and fails while told."""

    def __init__(self, gw, fail_models=(), fail_times: int = 0) -> None:
        self.gw, self.fail_models, self.fail_times = gw, set(fail_models), fail_times
        self.calls = []

    async def __call__(self, call):
        self.calls.append((call, call.model, call.body))
        d = call.deployment = self.gw.models.lookup(call.model)[0]
        call.upstream_s += 1.0
        if call.model in self.fail_models or len(self.calls) <= self.fail_times:
            err = UpstreamUnavailable("down", deployment=d.id, status=503)
            self.gw.shared["routing"].failed(call, d, err, 1.0)
            raise err
        return Reply(body={"model": call.model})


def start(gw, body=BODY):
    call = make_call(gw)
    call.body, call.model = body, body["model"]
    return call


async def test_fallback_tries_copies_and_adopts_the_winner():
    gw = gateway()
    fallback = Fallback(None, gw)
    retry = Retry(None, gw)
    route = FakeRoute(gw, fail_models={"a", "b"})
    call = start(gw)
    call.options["fallbacks"] = ["b", {"model": "c", "temperature": 0.5}]  # the request's own, with an override
    reply = await fallback(call, lambda c: retry(c, route))
    assert reply.body == {"model": "c"}
    tried = [(m, b.get("temperature")) for _, m, b in route.calls]
    assert tried == [("a", 1.0), ("a", 1.0), ("a", 1.0), ("b", 1.0), ("b", 1.0), ("b", 1.0), ("c", 0.5)]
    assert route.calls[0][0] is call  # the first try needs no copy
    assert all(c is not call for c, _, _ in route.calls[1:])  # every later one ran on its own
    assert call.body is BODY and BODY["temperature"] == 1.0  # the caller's body was never swapped
    assert call.model == "c" and call.deployment.model_name == "c"  # what the winner decided, adopted
    assert call.upstream_s == 7.0  # upstream time of every try, won or lost
    assert [a.error for a in call.attempts] == ["UpstreamUnavailable"] * 6  # one list, shared by every try
    assert call.reply_headers == {"x-relaykit-attempted-retries": "4", "x-relaykit-attempted-fallbacks": "2"}


async def test_retry_adopts_the_last_failure_when_all_fail():
    gw = gateway()
    route = FakeRoute(gw, fail_models={"a"})
    call = start(gw)
    try:
        await Retry(None, gw)(call, route)
    except UpstreamUnavailable:
        pass
    else:
        raise AssertionError("all tries failed, so the error must surface")
    assert len(route.calls) == 3 and len({id(c) for c, _, _ in route.calls}) == 3
    assert call.deployment is route.calls[-1][0].deployment  # the one that failed last, as the app reports it
    assert call.upstream_s == 3.0
    assert len(call.attempts) == 3 and all(a.delay > 0 for a in call.attempts[:2]) and call.attempts[2].delay == 0


async def test_param_drop_sends_a_copy_only_when_it_changes_the_body():
    gw = gateway()
    drop = ParamDrop(None, gw)
    seen = []

    async def upstream(c):
        seen.append(c)
        c.upstream_s += 2.0
        return Reply(body={})

    kept = start(gw, {"model": "g", "messages": BODY["messages"], "temperature": 1.0})
    kept.deployment = gw.models.lookup("g")[0]
    await drop(kept, upstream)
    assert seen[-1] is kept  # nothing to drop: no copy at all

    body = {"model": "g", "messages": BODY["messages"], "logprobs": True}
    changed = start(gw, body)
    changed.deployment = gw.models.lookup("g")[0]
    changed.options["drop_params"] = True
    await drop(changed, upstream)
    assert seen[-1] is not changed and "logprobs" not in seen[-1].body
    assert changed.body is body and body["logprobs"] is True  # the client's body, for a fallback elsewhere
    assert changed.upstream_s == 2.0  # adopted from the copy
