"""End-to-end: the official openai SDK's Responses API (`client.responses.create`, its stream helper) through relaykit
to an OpenAI deployment (forwarded as it is), a Claude deployment and a Gemini deployment (translated), asserting
what the client got and what each fake upstream received."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.fakes.gemini_upstream import API_KEY, FakeGemini
from tests.servers import ServerThread

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}
SCHEMA = {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"],
          "additionalProperties": False}
TRANSLATED = ["claude", "flash"]


@pytest.fixture(scope="module")
def gemini_server():
    fake = FakeGemini()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def fake_gemini(gemini_server):
    gemini_server.clear()
    return gemini_server


@pytest.fixture
def gw(fake_openai, fake_anthropic, fake_gemini, start_gateway):
    ant = {"api_base": fake_anthropic.url, "api_key": "sk-ant-up"}
    return start_gateway({"model_list": [
        {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o", "api_base": fake_openai.url + "/v1",
                                                 "api_key": "sk-oa-up"}},
        {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-sonnet-4-5", **ant}},
        {"model_name": "claude-thinking", "litellm_params": {"model": "anthropic/thinking", **ant}},
        {"model_name": "claude-broken-stream", "litellm_params": {"model": "anthropic/stream-error", **ant}},
        {"model_name": "flash", "litellm_params": {"model": "gemini/gemini-2.0-flash", "api_key": API_KEY,
                                                   "api_base": fake_gemini.url + "/v1beta"}},
    ]})


class Sent:
    """The bytes of each request the SDK sent, seen through an httpx event hook."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, request: httpx.Request) -> None:
        self.bodies.append(request.read())


@pytest.fixture
def sent():
    return Sent()


@pytest.fixture
def client(gw, sent):
    http = httpx.Client(event_hooks={"request": [sent]}, timeout=30)
    yield openai.OpenAI(api_key="anything", base_url=gw.url + "/v1", max_retries=0, http_client=http)
    http.close()


def upstream_of(model, fake_anthropic, fake_gemini):
    return {"claude": fake_anthropic, "flash": fake_gemini}[model]


# -- plain -------------------------------------------------------------------------------------------------------

def test_plain_on_claude(client, fake_anthropic):
    out = client.responses.create(model="claude", input="hi", instructions="Be brief.", max_output_tokens=300,
                                  temperature=0.2, top_p=0.9, user="u-7", metadata={"team": "a"})
    assert out.object == "response" and out.id.startswith("resp_") and out.status == "completed"
    assert out.output_text == "echo: hi"
    [item] = out.output
    assert item.type == "message" and item.role == "assistant" and item.id.startswith("msg_")
    assert item.content[0].type == "output_text"
    assert out.instructions == "Be brief." and out.max_output_tokens == 300 and out.metadata == {"team": "a"}
    # The fake's usage: 21 input + 4 read from the cache, 9 output.
    assert (out.usage.input_tokens, out.usage.output_tokens, out.usage.total_tokens) == (25, 9, 34)
    assert out.usage.input_tokens_details.cached_tokens == 4
    body = fake_anthropic.requests[-1]["body"]
    assert body == {"model": "claude-sonnet-4-5", "system": "Be brief.", "messages": [{"role": "user", "content": "hi"}],
                    "max_tokens": 300, "temperature": 0.2, "top_p": 0.9, "metadata": {"user_id": "u-7"}}
    assert fake_anthropic.requests[-1]["headers"]["x-api-key"] == "sk-ant-up"


def test_plain_on_gemini(client, fake_gemini):
    out = client.responses.create(model="flash", input=[
        {"role": "developer", "content": "Answer in English."},
        {"role": "user", "content": [{"type": "input_text", "text": "hello"},
                                     {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}]}])
    assert out.output_text == "echo: hello"
    assert (out.usage.input_tokens, out.usage.output_tokens, out.usage.total_tokens) == (7, 5, 12)
    body = fake_gemini.requests[-1]["body"]
    assert body["systemInstruction"] == {"parts": [{"text": "Answer in English."}]}
    assert body["contents"] == [{"role": "user", "parts": [
        {"text": "hello"}, {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]}]


def test_plain_on_openai_is_forwarded_untouched(client, sent, fake_openai):
    out = client.responses.create(model="gpt", input="hi", store=True, tools=[{"type": "web_search"}])
    assert out.id == "resp_fake123" and out.output_text == "echo: hi"
    assert out.usage.output_tokens_details.reasoning_tokens == 2
    got = fake_openai.requests[-1]
    assert got["path"] == "/v1/responses"
    # The model name is the deployment's own ("gpt-4o"), so the body is re-serialised with only that changed.
    assert got["body"] == {**json.loads(sent.bodies[-1]), "model": "gpt-4o"}
    assert got["headers"]["authorization"] == "Bearer sk-oa-up"


def test_same_model_name_forwards_the_clients_bytes(fake_openai, start_gateway):
    gw = start_gateway({"model_list": [{"model_name": "gpt-4o", "litellm_params": {
        "model": "openai/gpt-4o", "api_base": fake_openai.url + "/v1", "api_key": "sk-oa-up"}}]})
    sent = Sent()
    with httpx.Client(event_hooks={"request": [sent]}) as http:
        client = openai.OpenAI(api_key="x", base_url=gw.url + "/v1", max_retries=0, http_client=http)
        client.responses.create(model="gpt-4o", input="hi", previous_response_id="resp_earlier")
    assert fake_openai.requests[-1]["raw"] == sent.bodies[-1]


# -- streams -----------------------------------------------------------------------------------------------------

def event_types(events) -> list[str]:
    return [e.type for e in events]


@pytest.mark.parametrize("model", TRANSLATED)
def test_stream_events_in_order(client, model):
    events = list(client.responses.create(model=model, input="hi there", stream=True))
    types = event_types(events)
    assert types == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added", *["response.output_text.delta"] * (len(types) - 8),
                     "response.output_text.done", "response.content_part.done", "response.output_item.done",
                     "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "echo: hi there" == events[-4].text
    done = events[-1].response
    assert done.status == "completed" and done.output_text == "echo: hi there"
    assert done.usage.total_tokens > 0 and done.id == events[0].response.id


@pytest.mark.parametrize("model", [*TRANSLATED, "gpt"])
def test_stream_helper_accepts_the_stream(client, model):
    with client.responses.stream(model=model, input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "echo: hi"


def test_stream_on_openai_passes_through(client, fake_openai):
    events = list(client.responses.create(model="gpt", input="hi", stream=True))
    assert events[-1].type == "response.completed" and events[-1].response.id == "resp_fake123"
    assert [e.sequence_number for e in events] == list(range(9))
    assert fake_openai.requests[-1]["path"] == "/v1/responses" and fake_openai.requests[-1]["body"]["stream"] is True


def test_reasoning_from_claude_thinking(client, fake_anthropic):
    out = client.responses.create(model="claude-thinking", input="hi", reasoning={"effort": "low"})
    assert [i.type for i in out.output] == ["reasoning", "message"]
    assert out.output[0].summary[0].text == "Let me think."
    assert fake_anthropic.requests[-1]["body"]["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    events = list(client.responses.create(model="claude-thinking", input="hi", stream=True))
    types = event_types(events)
    assert types[2:6] == ["response.output_item.added", "response.reasoning_summary_part.added",
                          "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done"]
    assert events[-1].response.output[0].summary[0].text == "Let me think."


def test_error_mid_stream_is_error_then_failed(client):
    events = list(client.responses.create(model="claude-broken-stream", input="hi there", stream=True))
    assert event_types(events)[-2:] == ["error", "response.failed"]
    assert events[-1].response.status == "failed" and "Overloaded" in events[-1].response.error.message
    assert [e.sequence_number for e in events] == list(range(len(events)))


# -- tools -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", TRANSLATED)
@pytest.mark.parametrize("stream", [False, True])
def test_tool_round_trip(client, model, stream, fake_anthropic, fake_gemini):
    fake = upstream_of(model, fake_anthropic, fake_gemini)
    ask = [{"role": "user", "content": "Weather in Boston?"}]
    if stream:
        with client.responses.stream(model=model, input=ask, tools=[WEATHER]) as s:
            first = s.get_final_response()
    else:
        first = client.responses.create(model=model, input=ask, tools=[WEATHER], tool_choice="auto")
    [call] = [i for i in first.output if i.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"location": "Boston, MA"}
    assert call.call_id and call.id.startswith("fc_")
    tools_sent = fake.requests[-1]["body"]["tools"]
    assert "get_weather" in json.dumps(tools_sent)
    follow = [*ask, *[i.model_dump(exclude_none=True) for i in first.output],
              {"type": "function_call_output", "call_id": call.call_id, "output": "72F and sunny"}]
    second = client.responses.create(model=model, input=follow, tools=[WEATHER])
    assert second.output_text
    body = fake.requests[-1]["body"]
    if model == "claude":
        assert body["messages"][1]["content"][-1] == {"type": "tool_use", "id": call.call_id, "name": "get_weather",
                                                      "input": {"location": "Boston, MA"}}
        assert body["messages"][2] == {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call.call_id, "content": "72F and sunny"}]}
        assert second.output_text == "echo: 72F and sunny"
    else:
        parts = body["contents"][-1]["parts"]
        assert parts[0]["functionResponse"]["name"] == "get_weather"
        assert "72F and sunny" in json.dumps(parts[0]["functionResponse"]["response"])
        assert "72F and sunny" in second.output_text


def test_tool_stream_events(client):
    events = list(client.responses.create(model="claude", input="Weather?", tools=[WEATHER], stream=True))
    types = event_types(events)
    start = types.index("response.output_item.added", types.index("response.output_item.done"))
    assert types[start:] == ["response.output_item.added", *["response.function_call_arguments.delta"] * 2,
                             "response.function_call_arguments.done", "response.output_item.done",
                             "response.completed"]
    done = events[-2].item
    assert done.type == "function_call" and json.loads(done.arguments) == {"location": "Boston, MA"}


def test_tool_round_trip_on_openai_is_forwarded(client, fake_openai):
    items = [{"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
             {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]
    client.responses.create(model="gpt", input=items, tools=[WEATHER])
    assert fake_openai.requests[-1]["body"]["input"] == items


# -- structured output -------------------------------------------------------------------------------------------

def test_json_schema_on_claude(client, fake_anthropic):
    out = client.responses.create(model="claude", input="Where?", text={"format": {
        "type": "json_schema", "name": "place", "schema": SCHEMA, "strict": True}})
    assert json.loads(out.output_text) == {"location": "Boston, MA"}
    body = fake_anthropic.requests[-1]["body"]
    assert body["tool_choice"] == {"type": "tool", "name": "json_tool_call"}
    assert body["tools"][0]["input_schema"]["properties"] == SCHEMA["properties"]
    assert out.text.format.type == "json_schema"


def test_json_schema_on_gemini(client, fake_gemini):
    client.responses.create(model="flash", input="Where?", text={"format": {
        "type": "json_schema", "name": "place", "schema": SCHEMA}})
    config = fake_gemini.requests[-1]["body"]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"]["properties"] == {"location": {"type": "string"}}


def test_json_schema_on_openai_forwarded(client, fake_openai):
    fmt = {"type": "json_schema", "name": "place", "schema": SCHEMA, "strict": True}
    client.responses.create(model="gpt", input="Where?", text={"format": fmt})
    assert fake_openai.requests[-1]["body"]["text"] == {"format": fmt}


# -- what only OpenAI serves, and bad input ----------------------------------------------------------------------

@pytest.mark.parametrize(("extra", "param"), [
    ({"previous_response_id": "resp_1"}, "previous_response_id"),
    ({"store": True}, "store"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ({"input": [{"type": "function_call_output", "call_id": "call_9", "output": "x"}]}, "input[0].call_id"),
])
@pytest.mark.parametrize("model", TRANSLATED)
def test_openai_only_features_refused_on_translated_models(client, model, extra, param, fake_anthropic, fake_gemini):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=model, **{"input": "hi", **extra})
    assert info.value.body["param"] == param
    assert "only served by OpenAI deployments" in info.value.body["message"]
    assert not upstream_of(model, fake_anthropic, fake_gemini).requests


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "claude"}, "input"),
    ({"model": "claude", "input": 5}, "input"),
    ({"model": "claude", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"model": "claude", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
    ({"model": "claude", "input": "x", "temperature": "hot"}, "temperature"),
    ({"model": "claude", "input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}}, "text.format.schema"),
    ({"model": "claude", "input": "x", "reasoning": {"effort": "max"}}, "reasoning.effort"),
    ({"model": "claude", "input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
    ({"input": "x"}, "model"),
])
def test_bad_input_is_400_naming_the_field(gw, body, param, fake_anthropic):
    reply = httpx.post(gw.url + "/v1/responses", json=body)
    assert reply.status_code == 400, reply.text
    err = reply.json()["error"]
    assert err["param"] == param and err["type"] == "invalid_request_error"
    assert not fake_anthropic.requests


def test_stored_response_routes_forward_to_openai(gw, fake_openai):
    got = httpx.get(gw.url + "/v1/responses/resp_abc")
    assert got.status_code == 200 and got.json()["path"] == "/v1/responses/resp_abc"
    gone = httpx.delete(gw.url + "/v1/responses/resp_abc")
    assert gone.status_code == 200 and fake_openai.requests[-1]["method"] == "DELETE"


def test_stored_response_routes_without_openai_are_refused(fake_anthropic, start_gateway):
    gw = start_gateway({"model_list": [{"model_name": "claude", "litellm_params": {
        "model": "anthropic/claude-sonnet-4-5", "api_base": fake_anthropic.url, "api_key": "sk-ant-up"}}]})
    got = httpx.get(gw.url + "/v1/responses/resp_abc")
    assert got.status_code == 400 and "OpenAI" in got.json()["error"]["message"]
    counted = httpx.post(gw.url + "/v1/responses/input_tokens", json={"model": "claude", "input": "hi"})
    assert counted.status_code == 400 and counted.json()["error"]["param"] == "model"
    assert not fake_anthropic.requests
