"""Spend rows for /v1/responses on SQLite and PostgreSQL: the usage of a forwarded OpenAI Responses answer (whole
and streamed) and of a translated Claude one, logged under call_type "responses"."""

from __future__ import annotations

import openai
import pytest

from tests.stores import settings_for
from tests.test_spend_e2e import IN, OUT, spend_rows

MASTER = "sk-responses-spend-7d41c09be2"


@pytest.fixture
def gw(database, fake_openai, fake_anthropic, start_gateway):
    backend, url = database
    prices = {"input_cost_per_token": IN, "output_cost_per_token": OUT}
    return start_gateway({
        "model_list": [
            {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o", "api_base": fake_openai.url + "/v1",
                                                     "api_key": "sk-upstream"}, "model_info": prices},
            {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-sonnet-4-5",
                                                        "api_base": fake_anthropic.url, "api_key": "sk-ant-up"},
             "model_info": prices},
        ],
        "general_settings": {"master_key": MASTER, "proxy_batch_write_at": 0.05, **settings_for(backend, url)},
    })


@pytest.mark.parametrize("stream", [False, True])
def test_spend_rows_have_responses_usage(database, gw, stream):
    client = openai.OpenAI(api_key=MASTER, base_url=gw.url + "/v1", max_retries=0)
    for model in ("gpt", "claude"):
        if stream:
            with client.responses.stream(model=model, input="hi") as s:
                s.get_final_response()
        else:
            client.responses.create(model=model, input="hi")
    rows = {r["model_group"]: r for r in spend_rows(database, gw, 2)}
    gpt, claude = rows["gpt"], rows["claude"]
    # The OpenAI fake's Responses usage: 11 input (3 of them cached), 5 output.
    assert (gpt["prompt_tokens"], gpt["completion_tokens"], gpt["cache_read_tokens"]) == (11, 5, 3)
    # The Anthropic fake's: 21 input + 4 read from the cache, 9 output.
    assert (claude["prompt_tokens"], claude["completion_tokens"], claude["cache_read_tokens"]) == (25, 9, 4)
    for row in (gpt, claude):
        assert row["call_type"] == "responses" and row["status"] == "success"
        assert not row["cost_estimated"] and row["spend"] > 0
