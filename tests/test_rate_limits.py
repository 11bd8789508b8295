"""Rate limits for virtual keys through the real gateway, with the real openai and anthropic SDKs: rpm (key, team,
per model), tpm (key, user), max_parallel_requests with concurrent streams, refusals that send nothing upstream
in the client's own error format, the x-ratelimit-* headers, and the window's reset on a fixed clock."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import anthropic
import httpx
import openai
import pytest

from middleware.limits.refusal import reset_text
from tests.stores import settings_for

MASTER = "sk-ratelimits-4b9e1d7c02af58e3"
MODELS = ("gpt-4o", "gpt-4o-mini", "gated", "fail-400")
HI = [{"role": "user", "content": "hi"}]
START = 1_000_020.0  # a window boundary (60 × 16,667): the first window has exactly 60 s left


class Clock:
    """The limiter's clock, moved by the test: windows reset without waiting a minute."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def start(start_gateway, fake_openai, backend="sqlite", url=None):
    gw = start_gateway({
        "model_list": [{"model_name": m, "litellm_params": {"model": f"openai/{m}", "api_base": fake_openai.url + "/v1",
                                                            "api_key": "sk-upstream"}} for m in MODELS],
        "router_settings": {"model_group_alias": {"fast": "gpt-4o-mini"}},
        "general_settings": {"master_key": MASTER, **settings_for(backend, url)},
    })
    gw.limiter = gw.server.config.app.gateway.shared["rate_limits"]
    gw.clock = gw.limiter.clock = Clock(START)
    return gw


@pytest.fixture
def gw(fake_openai, start_gateway):
    return start(start_gateway, fake_openai)


def admin_post(gw, path: str, **body) -> dict:
    reply = httpx.post(gw.url + path, headers={"authorization": f"Bearer {MASTER}"}, json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def sdk(gw, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=gw.url + "/v1", max_retries=0)  # the SDK retries 429s by default


def chat(client: openai.OpenAI, model: str = "gpt-4o"):
    return client.chat.completions.with_raw_response.create(model=model, messages=HI)


def refused(client: openai.OpenAI, model: str = "gpt-4o") -> openai.RateLimitError:
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=model, messages=HI)
    return info.value


def wait_until(condition, what: str) -> None:
    """Wait (up to 10 s) for the server thread to finish work that ends after the client has its answer."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# -- rpm -----------------------------------------------------------------------------------------------------


def test_rpm_limit_lets_ten_through_refuses_the_eleventh_and_resets_with_the_window(fake_openai, start_gateway,
                                                                                    database):
    gw = start(start_gateway, fake_openai, *database)
    made = admin_post(gw, "/key/generate", rpm_limit=10, key_alias="ten-a-minute")
    client = sdk(gw, made["key"])
    gw.clock.now = START + 20  # 40 s left in this window

    for i in range(10):
        raw = chat(client)
        assert raw.parse().choices[0].message.content == "echo: hi"
        assert raw.headers["x-ratelimit-limit-requests"] == "10"
        assert raw.headers["x-ratelimit-remaining-requests"] == str(9 - i)
        assert raw.headers["x-ratelimit-reset-requests"] == "40s"
        assert "x-ratelimit-limit-tokens" not in raw.headers  # no token limit on this key
    assert len(fake_openai.requests) == 10

    error = refused(client)
    assert error.status_code == 429
    assert error.body["type"] == "rate_limit_error" and error.body["code"] == "429"
    assert "key 'ten-a-minute' rpm limit 10 reached" in error.body["message"]
    headers = error.response.headers
    assert headers["retry-after"] == "40"
    assert headers["x-ratelimit-limit-requests"] == "10"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "40s"
    assert len(fake_openai.requests) == 10  # the refusal sent nothing upstream

    # The master key is not limited, and does not use up the key's window.
    master = sdk(gw, MASTER)
    assert master.chat.completions.create(model="gpt-4o", messages=HI).choices[0].message.content == "echo: hi"

    gw.clock.now = START + 59.5
    assert refused(client).response.headers["retry-after"] == "1"  # half a second left: rounded up, never 0
    gw.clock.now = START + 60  # the next window
    raw = chat(client)
    assert raw.headers["x-ratelimit-remaining-requests"] == "9" and raw.headers["x-ratelimit-reset-requests"] == "1m0s"
    assert len(fake_openai.requests) == 12


def test_a_teams_rpm_limit_is_shared_by_its_keys_and_names_the_team(gw, fake_openai):
    team = admin_post(gw, "/team/new", team_alias="search", rpm_limit=3)
    first = sdk(gw, admin_post(gw, "/key/generate", team_id=team["team_id"], rpm_limit=100)["key"])
    second = sdk(gw, admin_post(gw, "/key/generate", team_id=team["team_id"])["key"])

    chat(first)
    chat(second)
    raw = chat(first)
    # The tightest limit is the team's (0 left), not the key's (98 left).
    assert raw.headers["x-ratelimit-limit-requests"] == "3" and raw.headers["x-ratelimit-remaining-requests"] == "0"
    error = refused(second)
    assert "team 'search' rpm limit 3 reached (3 requests this minute" in error.body["message"]
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert len(fake_openai.requests) == 3
    # A refused call is not counted: the first key's own window holds its 2 calls, not more.
    gw.clock.now = START + 60
    assert chat(first).headers["x-ratelimit-remaining-requests"] == "2"  # the team's 3 - 1 is tighter than 100 - 1


def test_model_rpm_limit_counts_the_model_group_after_aliases(gw, fake_openai):
    key = admin_post(gw, "/key/generate", model_rpm_limit={"gpt-4o-mini": 2}, aliases={"house": "gpt-4o-mini"},
                     key_alias="mini-twice")["key"]
    client = sdk(gw, key)
    chat(client, "fast")  # the router's alias for gpt-4o-mini
    raw = chat(client, "house")  # the key's alias for it
    assert raw.headers["x-ratelimit-limit-requests"] == "2" and raw.headers["x-ratelimit-remaining-requests"] == "0"
    error = refused(client, "gpt-4o-mini")
    assert "key 'mini-twice' for model 'gpt-4o-mini' rpm limit 2 reached" in error.body["message"]
    # Other models are not limited, and carry no rate-limit headers.
    raw = chat(client, "gpt-4o")
    assert "x-ratelimit-limit-requests" not in raw.headers
    assert [r["body"]["model"] for r in fake_openai.requests] == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]


def test_rate_limits_apply_on_forwarded_routes(gw, fake_openai):
    key = admin_post(gw, "/key/generate", rpm_limit=2, model_rpm_limit={"gpt-4o": 1})["key"]
    headers = {"authorization": f"Bearer {key}"}

    def respond(model: str) -> httpx.Response:
        return httpx.post(gw.url + "/v1/responses", headers=headers, json={"model": model, "input": "hi"})

    first = respond("gpt-4o")
    assert first.status_code == 200 and first.headers["x-ratelimit-remaining-requests"] == "0"  # the model's 1
    second = respond("gpt-4o")  # the model named in the body is limited
    assert second.status_code == 429 and second.json()["error"]["type"] == "rate_limit_error"
    assert "for model 'gpt-4o' rpm limit 1 reached" in second.json()["error"]["message"]
    assert second.headers["retry-after"] == "60"
    assert respond("gpt-4o-mini").status_code == 200  # the key's own rpm: its second call
    third = respond("gpt-4o-mini")
    assert third.status_code == 429 and "rpm limit 2 reached" in third.json()["error"]["message"]
    assert len(fake_openai.requests) == 2


def test_the_limit_on_v1_messages_answers_in_anthropics_format(gw, fake_openai):
    key = admin_post(gw, "/key/generate", rpm_limit=1, key_alias="agent")["key"]
    client = anthropic.Anthropic(api_key=key, base_url=gw.url, max_retries=0)
    raw = client.messages.with_raw_response.create(model="gpt-4o", max_tokens=50, messages=HI)
    assert raw.parse().content[0].text == "echo: hi"
    assert raw.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(model="gpt-4o", max_tokens=50, messages=HI)
    assert info.value.status_code == 429
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == "rate_limit_error"
    assert "key 'agent' rpm limit 1 reached" in info.value.body["error"]["message"]
    assert info.value.response.headers["retry-after"] == "60"
    assert len(fake_openai.requests) == 1


# -- tpm -----------------------------------------------------------------------------------------------------


def test_tpm_counts_the_tokens_of_completed_calls(gw, fake_openai):
    client = sdk(gw, admin_post(gw, "/key/generate", tpm_limit=30, key_alias="tokens")["key"])
    raw = chat(client)  # the fake upstream reports 21 tokens a call
    assert raw.headers["x-ratelimit-limit-tokens"] == "30" and raw.headers["x-ratelimit-remaining-tokens"] == "30"
    raw = chat(client)  # 21 used: 9 left, so one more may start
    assert raw.headers["x-ratelimit-remaining-tokens"] == "9"
    error = refused(client)  # 42 used
    assert "key 'tokens' tpm limit 30 reached (42 tokens this minute" in error.body["message"]
    assert error.response.headers["x-ratelimit-remaining-tokens"] == "0"
    assert error.response.headers["x-ratelimit-reset-tokens"] == "1m0s"
    assert len(fake_openai.requests) == 2
    gw.clock.now = START + 60
    assert chat(client).headers["x-ratelimit-remaining-tokens"] == "30"


def test_a_users_tpm_limits_count_every_key_of_the_user(gw, fake_openai):
    user = admin_post(gw, "/user/new", user_id="ada", tpm_limit=40, model_tpm_limit={"gpt-4o": 5})
    mine = sdk(gw, user["key"])
    other = sdk(gw, admin_post(gw, "/key/generate", user_id="ada")["key"])
    chat(mine, "gpt-4o")  # 21 tokens against the user's tpm and against its gpt-4o limit
    error = refused(other, "gpt-4o")
    assert "user 'ada' for model 'gpt-4o' tpm limit 5 reached (21 tokens this minute" in error.body["message"]
    chat(other, "gpt-4o-mini")  # 21 of 40 used: another model may still start; now 42
    error = refused(mine, "gpt-4o-mini")
    assert "user 'ada' tpm limit 40 reached (42 tokens this minute" in error.body["message"]
    assert len(fake_openai.requests) == 2


# -- max_parallel_requests -----------------------------------------------------------------------------------


def open_stream(client: openai.OpenAI):
    """A streamed call: ("ok", the stream, its first chunk) once the answer has begun, or ("refused", the error)."""
    try:
        stream = client.chat.completions.create(model="gated", messages=HI, stream=True)
    except openai.RateLimitError as exc:
        return ("refused", exc)
    return ("ok", stream, next(iter(stream)))


def test_max_parallel_requests_holds_each_stream_until_its_end(gw, fake_openai):
    made = admin_post(gw, "/key/generate", max_parallel_requests=2, key_alias="two-at-once")
    client = sdk(gw, made["key"])
    ident = ("key", made["token"])
    with ThreadPoolExecutor(5) as pool:
        outcomes = list(pool.map(lambda _: open_stream(client), range(5)))
    admitted = [o for o in outcomes if o[0] == "ok"]
    refusals = [o[1] for o in outcomes if o[0] == "refused"]
    assert len(admitted) == 2 and len(refusals) == 3
    for error in refusals:
        assert error.status_code == 429 and error.response.headers["retry-after"] == "1"
        assert "key 'two-at-once' max_parallel_requests 2 reached (2 in flight)" in error.body["message"]
    assert gw.limiter.in_flight(ident) == 2
    assert len(fake_openai.requests) == 2  # the refused ones sent nothing

    fake_openai.gate.set()  # the two streams may finish now
    for _, stream, first in admitted:
        text = first.choices[0].delta.content + "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == "echo: hi"
    wait_until(lambda: gw.limiter.in_flight(ident) == 0, "both streams' slots to be freed")
    with ThreadPoolExecutor(2) as pool:
        again = list(pool.map(lambda _: open_stream(client), range(2)))
    assert [o[0] for o in again] == ["ok", "ok"]
    for _, stream, _first in again:
        stream.close()


def test_a_dropped_stream_and_a_failed_call_free_their_slots(gw, fake_openai):
    made = admin_post(gw, "/key/generate", max_parallel_requests=1)
    client = sdk(gw, made["key"])
    ident = ("key", made["token"])

    outcome = open_stream(client)
    assert outcome[0] == "ok" and gw.limiter.in_flight(ident) == 1
    assert open_stream(client)[0] == "refused"
    outcome[1].close()  # the client hangs up mid-stream
    fake_openai.gate.set()
    wait_until(lambda: gw.limiter.in_flight(ident) == 0, "the dropped stream's slot to be freed")

    with pytest.raises(openai.BadRequestError):  # the upstream refuses: the slot is freed with the error
        client.chat.completions.create(model="fail-400", messages=HI)
    assert gw.limiter.in_flight(ident) == 0
    assert chat(client).parse().choices[0].message.content == "echo: hi"
    assert gw.limiter.in_flight(ident) == 0  # a non-streamed answer holds its slot only until it is complete


def test_without_a_meter_a_non_streamed_answer_frees_its_slot_when_it_is_complete(fake_openai, start_gateway):
    gw = start_gateway({  # the default pipelines: nothing runs the on_done hooks
        "model_list": [{"model_name": m, "litellm_params": {"model": f"openai/{m}", "api_base": fake_openai.url + "/v1",
                                                            "api_key": "sk-upstream"}} for m in MODELS],
        "general_settings": {"master_key": MASTER},
    })
    limiter = gw.server.config.app.gateway.shared["rate_limits"]
    limiter.clock = Clock(START)
    made = admin_post(gw, "/key/generate", max_parallel_requests=1, rpm_limit=3)
    client = sdk(gw, made["key"])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="fail-400", messages=HI)
    assert chat(client).headers["x-ratelimit-remaining-requests"] == "1"  # the failed call counted
    assert chat(client).headers["x-ratelimit-remaining-requests"] == "0"
    assert limiter.in_flight(("key", made["token"])) == 0


# -- the hot path and the formats ----------------------------------------------------------------------------


def test_a_key_without_limits_gets_no_rate_limit_headers_and_no_counters(gw, fake_openai):
    made = admin_post(gw, "/key/generate", models=["gpt-4o"])
    raw = chat(sdk(gw, made["key"]))
    assert not [h for h in raw.headers if h.startswith("x-ratelimit-")]
    assert gw.limiter.in_flight(("key", made["token"])) == 0
    assert gw.limiter._requests == {} and gw.limiter._tokens == {}


@pytest.mark.parametrize(("seconds", "text"), [(0.25, "250ms"), (0.0001, "1ms"), (1, "1s"), (40.2, "41s"),
                                               (60, "1m0s"), (360, "6m0s"), (3723, "1h2m3s")])
def test_reset_times_use_openais_format(seconds, text):
    assert reset_text(seconds) == text


def test_the_limiter_keeps_only_the_current_window_and_a_lease_frees_its_slot_once():
    from kernel.store.records import Caller, KeyRecord
    from middleware.limits.limiter import InProcessLimiter
    from middleware.limits.rules import rules_for

    clock = Clock(START)
    limiter = InProcessLimiter(clock=clock)
    callers = [Caller(key=KeyRecord.of({"token": f"t{i}", "rpm_limit": 5, "max_parallel_requests": 2,
                                        "model_tpm_limit": {"m": 100}})) for i in range(3)]
    leases = [limiter.admit(rules_for(c, "m")) for c in callers]
    for c in callers:
        limiter.record_tokens(c, "m", 7)
    assert len(limiter._requests) == 3 and len(limiter._tokens) == 3
    clock.now = START + 60
    limiter.admit(rules_for(callers[0], None)).release()
    assert limiter._requests == {("key", "t0"): 1} and limiter._tokens == {}  # the old minute is gone whole

    second = limiter.admit(rules_for(callers[0], "m"))
    assert limiter.in_flight(("key", "t0")) == 2
    leases[0].release()
    leases[0].release()  # a second release of the same lease frees nothing more
    assert limiter.in_flight(("key", "t0")) == 1
    second.release()
    assert limiter.in_flight(("key", "t0")) == 0 and ("key", "t0") not in limiter._parallel
