"""The meter's call sinks (middleware/spend/sinks.py), on a gateway with no master key: each call starts and
finishes exactly once in every sink, whole, streamed or failed, with the spend-log record; a failing sink
changes nothing for the client."""

from __future__ import annotations

import openai
import pytest

from middleware.spend.sinks import sinks_of

HI = [{"role": "user", "content": "hi"}]


class Recorder:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[tuple[str, dict, object]] = []

    def start(self, call) -> None:
        self.started.append(call.id)

    def finish(self, call, record, reply) -> None:
        self.finished.append((call.id, record, reply))


class Broken:
    def start(self, call) -> None:
        raise RuntimeError("sink bug")

    def finish(self, call, record, reply) -> None:
        raise RuntimeError("sink bug")


@pytest.fixture
def gw(fake_openai, start_gateway):
    return start_gateway({"model_list": [
        {"model_name": name, "litellm_params": {"model": f"openai/{upstream}", "api_base": fake_openai.url + "/v1",
                                                "api_key": "sk-upstream"},
         "model_info": {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-5}}
        for name, upstream in (("gpt-4o", "gpt-4o"), ("broken", "policy"))]})


def test_every_call_reaches_every_sink_once(gw):
    gateway = gw.server.config.app.gateway
    recorder = Recorder()
    sinks_of(gateway).extend([Broken(), recorder])
    client = openai.OpenAI(api_key="unused", base_url=gw.url + "/v1", max_retries=0)

    whole = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=HI)
    assert whole.parse().choices[0].message.content == "echo: hi"  # the broken sink changed nothing
    assert float(whole.headers["x-relaykit-response-cost"]) == pytest.approx(9e-6 + 12e-5)
    assert "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="gpt-4o", messages=HI, stream=True)) == "echo: hi"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="broken", messages=HI)

    assert len(recorder.started) == len(recorder.finished) == 3
    assert [cid for cid, _, _ in recorder.finished] == recorder.started
    (_, plain, reply), (_, streamed, none), (_, failed, nothing) = recorder.finished
    assert plain["status"] == "success" and plain["total_tokens"] == 21 and plain["api_key"] == ""
    assert reply is not None and none is None and nothing is None
    assert streamed["completion_tokens"] == 12 and streamed["ttft_ms"] is not None  # usage asked for upstream
    assert failed["status"] == "failure" and failed["spend"] == 0 and failed["model_group"] == "broken"
