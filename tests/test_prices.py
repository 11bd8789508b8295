"""The PriceBook: table lookups per provider family, per-deployment overrides, cache, image, audio and character
pricing, unknown models, and the pre-call ceiling, all on deployments built by the real config parser."""

from __future__ import annotations

import pytest

from kernel.config import parse_config
from kernel.errors import ConfigError
from kernel.state import Gateway
from middleware.spend.prices import DEFAULT_OUTPUT_LIMIT, PriceBook, deployments_for, packaged_table
from middleware.spend.usage import Usage

TABLE = packaged_table()
M = 1_000_000


def deployment(model: str, *, info: dict | None = None, **params):
    entry = {"model_name": "m", "litellm_params": {"model": model, "api_key": "sk-test-not-real", **params}}
    if info is not None:
        entry["model_info"] = info
    return parse_config({"model_list": [entry]}, "config.yaml").deployments[0]


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook()


def test_hand_checked_prices(book):
    # OpenAI's list prices: gpt-4o $2.50 / $10 per million tokens, text-embedding-3-small $0.02, whisper $0.006/min.
    gpt4o = deployment("openai/gpt-4o")
    assert book.cost(gpt4o, "chat", Usage(prompt_tokens=M, completion_tokens=M)) == pytest.approx(12.5)
    assert book.cost(deployment("openai/text-embedding-3-small"), "embeddings", Usage(prompt_tokens=M)) == pytest.approx(0.02)
    assert book.cost(deployment("openai/whisper-1"), "transcriptions", Usage(audio_seconds=60)) == pytest.approx(0.006)


# (litellm_params.model, extra params, the table key the price must come from)
FAMILIES = [
    ("openai/gpt-4o", {}, "gpt-4o"),
    ("gpt-4o-mini", {}, "gpt-4o-mini"),  # provider inferred, as LiteLLM does
    ("azure/gpt-4o-mini", {"api_base": "https://x.openai.azure.com"}, "azure/gpt-4o-mini"),
    ("anthropic/claude-opus-4-5", {}, "claude-opus-4-5"),
    ("gemini/gemini-2.5-flash", {}, "gemini/gemini-2.5-flash"),
    ("vertex_ai/gemini-2.5-pro", {"vertex_project": "p", "vertex_location": "us-central1"}, "gemini-2.5-pro"),
    ("vertex_ai/claude-opus-4-5@20251101", {"vertex_project": "p", "vertex_location": "us-east5"},
     "vertex_ai/claude-opus-4-5@20251101"),
    ("bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0", {"aws_region_name": "us-east-1"},
     "anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("bedrock/converse/eu.anthropic.claude-sonnet-4-5-20250929-v1:0", {"aws_region_name": "eu-west-1"},
     "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("mistral/mistral-large-2512", {}, "mistral/mistral-large-2512"),
    ("groq/openai/gpt-oss-120b", {}, "groq/openai/gpt-oss-120b"),
    ("deepseek/deepseek-chat", {}, "deepseek/deepseek-chat"),
    ("cohere/command-r-plus-08-2024", {}, "command-r-plus-08-2024"),
    ("together_ai/openai/gpt-oss-120b", {}, "together_ai/openai/gpt-oss-120b"),
    ("fireworks_ai/accounts/fireworks/models/deepseek-v3", {}, "fireworks_ai/accounts/fireworks/models/deepseek-v3"),
    ("perplexity/sonar", {}, "perplexity/sonar"),
    ("cerebras/gpt-oss-120b", {}, "cerebras/gpt-oss-120b"),
]


@pytest.mark.parametrize(("model", "params", "key"), FAMILIES, ids=[f[0] for f in FAMILIES])
def test_each_provider_family_is_priced_from_its_own_entry(book, model, params, key):
    entry = TABLE[key]
    d = deployment(model, **params)
    assert book.known(d) and book.price(d).key == key
    usage = Usage(prompt_tokens=1000, completion_tokens=500)
    expected = 1000 * entry["input_cost_per_token"] + 500 * entry["output_cost_per_token"]
    assert expected > 0
    assert book.cost(d, "chat", usage) == pytest.approx(expected)


def test_xai_and_deepinfra_are_priced_too(book):
    for provider in ("xai", "deepinfra"):
        key = next(k for k, v in TABLE.items() if v["litellm_provider"] == provider and v["mode"] == "chat"
                   and v.get("input_cost_per_token"))
        d = deployment(f"{provider}/{key.partition('/')[2]}")
        assert book.price(d).key == key


def test_a_model_filed_under_another_provider_is_not_taken(book):
    # `gpt-4o` is OpenAI's entry: Groq serving a model of that name is not priced at OpenAI's rates.
    d = deployment("groq/gpt-4o")
    assert not book.known(d)
    assert book.cost(d, "chat", Usage(prompt_tokens=100, completion_tokens=100)) == 0.0


def test_azure_uses_base_model_and_its_data_zone_price(book):
    d = deployment("azure/my-prod-deployment", info={"base_model": "azure/eu/gpt-4o"}, api_base="https://x.openai.azure.com")
    assert book.price(d).key == "azure/eu/gpt-4o"
    assert book.price(d).input == TABLE["azure/eu/gpt-4o"]["input_cost_per_token"]
    assert TABLE["azure/eu/gpt-4o"]["input_cost_per_token"] != TABLE["azure/gpt-4o"]["input_cost_per_token"]
    # Without base_model a deployment named after no model is unknown, and says so.
    assert not book.known(deployment("azure/my-prod-deployment", api_base="https://x.openai.azure.com"))


def test_a_dated_snapshot_the_table_does_not_list_is_priced_as_its_alias(book):
    d = deployment("openai/gpt-4o-2099-01-01")
    assert book.price(d).key == "gpt-4o"


def test_fine_tuned_openai_model_is_priced_as_its_base(book):
    key = next(k for k in TABLE if k.startswith("ft:gpt-4o-mini"))
    d = deployment(f"openai/{key}:my-org::abc123")
    assert book.price(d).key == key


def test_unknown_model_costs_nothing_and_is_reported_unknown(book):
    d = deployment("openai/no-such-model-anywhere")
    assert not book.known(d)
    assert book.price(d) is None
    assert book.cost(d, "chat", Usage(prompt_tokens=10, completion_tokens=10)) == 0.0
    assert book.ceiling([d], "chat", {"max_tokens": 100}, 1000) == 0.0


def test_cached_tokens_are_priced_at_the_cache_rates_and_not_again_as_input(book):
    d = deployment("anthropic/claude-opus-4-5")
    e = TABLE["claude-opus-4-5"]
    assert e["cache_read_input_token_cost"] < e["input_cost_per_token"] < e["cache_creation_input_token_cost"]
    u = Usage(prompt_tokens=10_000, completion_tokens=200, cache_read_tokens=6_000, cache_creation_tokens=3_000)
    expected = (1_000 * e["input_cost_per_token"] + 6_000 * e["cache_read_input_token_cost"]
                + 3_000 * e["cache_creation_input_token_cost"] + 200 * e["output_cost_per_token"])
    assert book.cost(d, "messages", u) == pytest.approx(expected)


def test_cache_reads_without_a_cache_rate_are_billed_as_input(book):
    d = deployment("openai/gpt-4o", input_cost_per_token=1e-6, output_cost_per_token=2e-6)
    base = deployment("groq/openai/gpt-oss-120b")
    assert "cache_creation_input_token_cost" not in TABLE["groq/openai/gpt-oss-120b"]
    u = Usage(prompt_tokens=100, cache_creation_tokens=40)
    assert book.cost(base, "chat", u) == pytest.approx(100 * TABLE["groq/openai/gpt-oss-120b"]["input_cost_per_token"])
    assert book.cost(d, "chat", Usage(prompt_tokens=100)) == pytest.approx(1e-4)


def test_long_prompts_use_the_above_200k_rates(book):
    key = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    d = deployment(f"bedrock/{key}", aws_region_name="us-east-1")
    e = TABLE[key]
    short, long = Usage(prompt_tokens=200_000, completion_tokens=10), Usage(prompt_tokens=200_001, completion_tokens=10)
    assert book.cost(d, "chat", short) == pytest.approx(200_000 * e["input_cost_per_token"] + 10 * e["output_cost_per_token"])
    assert book.cost(d, "chat", long) == pytest.approx(
        200_001 * e["input_cost_per_token_above_200k_tokens"] + 10 * e["output_cost_per_token_above_200k_tokens"])


def test_model_info_and_litellm_params_override_per_deployment(book):
    table = TABLE["gpt-4o"]
    by_info = deployment("openai/gpt-4o", info={"input_cost_per_token": 1e-6, "cache_read_input_token_cost": 1e-7})
    p = book.price(by_info)
    assert (p.input, p.cache_read, p.output) == (1e-6, 1e-7, table["output_cost_per_token"])  # the rest stays the table's
    by_params = deployment("openai/gpt-4o", output_cost_per_token=3e-5)
    assert book.price(by_params).output == 3e-5
    assert book.price(by_params).input == table["input_cost_per_token"]
    # A model the table lacks is priced by its own keys alone, and is then known.
    own = deployment("openai/my-finetune", input_cost_per_token=2e-6, output_cost_per_token=4e-6)
    assert book.known(own)
    assert book.cost(own, "chat", Usage(prompt_tokens=1000, completion_tokens=1000)) == pytest.approx(6e-3)
    # model_info wins over litellm_params when both set the same key.
    both = deployment("openai/gpt-4o", info={"input_cost_per_token": 5e-6}, input_cost_per_token=7e-6)
    assert book.price(both).input == 5e-6


def test_cost_keys_in_litellm_params_are_not_request_defaults():
    d = deployment("openai/gpt-4o", input_cost_per_token=1e-6, temperature=0.2)
    assert dict(d.defaults) == {"temperature": 0.2}
    assert "input_cost_per_token" not in d.extra
    assert d.model_info["input_cost_per_token"] == 1e-6


@pytest.mark.parametrize(("where", "value"), [("litellm_params", "abc"), ("litellm_params", -1), ("model_info", True),
                                              ("model_info", "0.1")])
def test_a_bad_cost_key_is_a_config_error_naming_it(where, value):
    entry = {"model_name": "m", "litellm_params": {"model": "openai/gpt-4o"}}
    entry.setdefault(where, {})["output_cost_per_token"] = value
    with pytest.raises(ConfigError) as info:
        parse_config({"model_list": [entry]}, "config.yaml")
    assert any(f"model_list[0].{where}.output_cost_per_token" in p for p in info.value.problems)


def test_images_per_image_and_per_size_and_quality(book):
    imagen = deployment("gemini/imagen-3.0-generate-001")
    each = TABLE["gemini/imagen-3.0-generate-001"]["output_cost_per_image"]
    assert book.cost(imagen, "images", Usage(images=3)) == pytest.approx(3 * each)
    # gpt-image-1.5 billed per image at the request's quality and size when no token usage came back
    gpt_image = deployment("openai/gpt-image-1.5")
    high = TABLE["high/1024-x-1536/gpt-image-1.5"]["input_cost_per_image"]
    low = TABLE["low/1024-x-1024/gpt-image-1.5"]["input_cost_per_image"]
    assert high != low
    assert book.cost(gpt_image, "images", Usage(images=2), {"size": "1024x1536", "quality": "high"}) == pytest.approx(2 * high)
    assert book.cost(gpt_image, "images", Usage(images=1), {"size": "1024x1024", "quality": "low"}) == pytest.approx(low)
    # ... and by tokens when the provider reported them (output tokens are image tokens)
    e = TABLE["gpt-image-1.5"]
    u = Usage(prompt_tokens=50, completion_tokens=4000, images=1)
    assert book.cost(gpt_image, "images", u) == pytest.approx(50 * e["input_cost_per_token"]
                                                              + 4000 * e["output_cost_per_image_token"])
    # DALL-E 3 on Azure, priced per pixel at its size (the table has only per-size entries for it)
    dalle = deployment("azure/dall-e-3", api_base="https://x.openai.azure.com")
    pixel = TABLE["azure/hd/1024-x-1792/dall-e-3"]["input_cost_per_pixel"]
    got = book.cost(dalle, "images", Usage(images=1), {"size": "1024x1792", "quality": "hd"})
    assert got == pytest.approx(pixel * 1024 * 1792) and got > 0
    # a per-deployment image price wins over the sized entries
    fixed = deployment("openai/gpt-image-1.5", info={"output_cost_per_image": 0.5})
    assert book.cost(fixed, "images", Usage(images=2), {"size": "1024x1536", "quality": "high"}) == pytest.approx(1.0)


def test_audio_seconds_and_characters(book):
    groq = deployment("groq/whisper-large-v3")
    per_s = TABLE["groq/whisper-large-v3"]["input_cost_per_second"]
    assert book.cost(groq, "transcriptions", Usage(audio_seconds=90.5)) == pytest.approx(90.5 * per_s)
    assert book.cost(groq, "translations", Usage(audio_seconds=10)) == pytest.approx(10 * per_s)
    tts = deployment("openai/tts-1")
    assert book.cost(tts, "speech", Usage(characters=1234)) == pytest.approx(1234 * TABLE["tts-1"]["input_cost_per_character"])
    # a token-billed transcription model is billed by the tokens it reports, not again by the second
    transcribe = deployment("openai/gpt-4o-transcribe")
    e = TABLE["gpt-4o-transcribe"]
    u = Usage(prompt_tokens=300, completion_tokens=40, audio_seconds=30)
    assert book.cost(transcribe, "transcriptions", u) == pytest.approx(300 * e["input_cost_per_token"]
                                                                       + 40 * e["output_cost_per_token"])


def test_free_endpoints_and_failed_calls_cost_nothing(book):
    d = deployment("openai/gpt-4o")
    assert book.cost(d, "moderations", Usage(prompt_tokens=1000)) == 0.0
    assert book.cost(deployment("anthropic/claude-opus-4-5"), "count_tokens", Usage(prompt_tokens=1000)) == 0.0
    assert book.cost(d, "chat", None) == 0.0
    assert book.ceiling([d], "moderations", {}, 10_000) == 0.0


def test_ceiling_uses_max_tokens_and_the_body_size(book):
    d = deployment("openai/gpt-4o")
    e = TABLE["gpt-4o"]
    got = book.ceiling([d], "chat", {"max_tokens": 100}, 1000)
    assert got == pytest.approx(501 * e["input_cost_per_token"] + 100 * e["output_cost_per_token"])
    for field in ("max_completion_tokens", "max_output_tokens"):
        assert book.ceiling([d], "chat", {field: 100}, 1000) == pytest.approx(got)
    # no limit asked: the model's own output limit, and a request past that limit counts as the limit
    no_limit = book.ceiling([d], "chat", {}, 1000)
    assert no_limit == pytest.approx(501 * e["input_cost_per_token"] + e["max_output_tokens"] * e["output_cost_per_token"])
    assert book.ceiling([d], "chat", {"max_tokens": 10**9}, 1000) == pytest.approx(no_limit)
    # a huge body counts no more than the model's input limit
    assert book.ceiling([d], "chat", {"max_tokens": 1}, 50 * M) == pytest.approx(
        e["max_input_tokens"] * e["input_cost_per_token"] + e["output_cost_per_token"])
    # and it really is an upper bound of what the call then costs
    assert book.cost(d, "chat", Usage(prompt_tokens=300, completion_tokens=100)) < got


def test_ceiling_without_any_limit_uses_the_default_and_the_dearest_deployment(book):
    own = deployment("openai/my-model", input_cost_per_token=1e-6, output_cost_per_token=2e-6)
    assert book.ceiling([own], "chat", {}, 200) == pytest.approx(101 * 1e-6 + DEFAULT_OUTPUT_LIMIT * 2e-6)
    # the deployment's own max_tokens default counts when the request names none
    capped = deployment("openai/my-model", input_cost_per_token=1e-6, output_cost_per_token=2e-6, max_tokens=10)
    assert book.ceiling([capped], "chat", {}, 200) == pytest.approx(101 * 1e-6 + 10 * 2e-6)
    cheap, dear = deployment("openai/gpt-4o-mini"), deployment("openai/gpt-4o")
    assert book.ceiling([cheap, dear], "chat", {"max_tokens": 50}, 400) == book.ceiling([dear], "chat", {"max_tokens": 50}, 400)


def test_ceiling_for_images_and_audio(book):
    imagen = deployment("gemini/imagen-3.0-generate-001")
    each = TABLE["gemini/imagen-3.0-generate-001"]["output_cost_per_image"]
    assert book.ceiling([imagen], "images", {"n": 4}, 300) == pytest.approx(4 * each)
    tts = deployment("openai/tts-1")
    per_char = TABLE["tts-1"]["input_cost_per_character"]
    assert book.ceiling([tts], "speech", {"input": "x" * 500}, 600) == pytest.approx(500 * per_char)
    whisper = deployment("openai/whisper-1")
    # 1 MB of audio is at most 500 s at 16 kbit/s
    per_s = TABLE["whisper-1"]["input_cost_per_second"]
    assert book.ceiling([whisper], "transcriptions", {}, 1_000_000) == pytest.approx(500 * per_s)


def test_pricebook_is_built_once_per_gateway_and_finds_a_groups_deployments():
    settings = parse_config({"model_list": [
        {"model_name": "smart", "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-test-not-real"}},
        {"model_name": "smart", "litellm_params": {"model": "anthropic/claude-opus-4-5", "api_key": "sk-test-not-real"}},
        {"model_name": "any/*", "litellm_params": {"model": "openai/*", "api_key": "sk-test-not-real"}},
    ]}, "config.yaml")
    gw = Gateway(settings)
    book = PriceBook.of(gw)
    assert PriceBook.of(gw) is book and gw.shared["prices"] is book

    from kernel.call import Call

    call = Call(id="c1", route="chat", endpoint="chat", dialect="openai", gateway=gw, model="smart")
    group = deployments_for(call)
    assert sorted(d.upstream_model for d in group) == ["claude-opus-4-5", "gpt-4o"]
    expect = max(book.ceiling([d], "chat", {"max_tokens": 10}, 100) for d in group)
    assert book.ceiling(group, "chat", {"max_tokens": 10}, 100) == expect > 0
    wild = deployments_for(Call(id="c2", route="chat", endpoint="chat", dialect="openai", gateway=gw, model="any/gpt-4o-mini"))
    assert [d.upstream_model for d in wild] == ["gpt-4o-mini"] and book.price(wild[0]).key == "gpt-4o-mini"
    assert deployments_for(Call(id="c3", route="chat", endpoint="chat", dialect="openai", gateway=gw, model="nope")) == []
    # count_tokens is not an endpoint OpenAI serves: the group narrows to those that do
    ct = deployments_for(Call(id="c4", route="count_tokens", endpoint="count_tokens", dialect="anthropic", gateway=gw,
                              model="smart"))
    assert [d.provider for d in ct] == ["anthropic"]


def test_every_packaged_entry_is_well_formed():
    assert len(TABLE) > 1000
    for key, entry in TABLE.items():
        assert entry["litellm_provider"] and entry["mode"], key
        prices = [v for k, v in entry.items() if "cost" in k]
        assert prices and all(isinstance(v, (int, float)) and v >= 0 for v in prices), key


@pytest.mark.parametrize("stream", [False, True])
def test_cost_keys_in_litellm_params_never_reach_the_upstream(fake_openai, start_gateway, stream):
    import openai

    params = {"api_base": fake_openai.url + "/v1", "api_key": "sk-upstream-secret", "input_cost_per_token": 1e-6,
              "output_cost_per_token": 2e-6, "cache_read_input_token_cost": 1e-7, "temperature": 0.3}
    gw = start_gateway({"model_list": [{"model_name": "priced", "litellm_params": {"model": "openai/gpt-4o", **params},
                                        "model_info": {"output_cost_per_image": 0.01}}]})
    client = openai.OpenAI(api_key="client-key", base_url=gw.url, max_retries=0, timeout=10)
    if stream:
        chunks = list(client.chat.completions.create(model="priced", messages=[{"role": "user", "content": "hi"}],
                                                     stream=True))
        assert chunks
    else:
        assert client.chat.completions.create(model="priced", messages=[{"role": "user", "content": "hi"}]).choices
    sent, = fake_openai.requests
    assert sent["body"]["temperature"] == 0.3  # request defaults from litellm_params still go
    assert not [k for k in sent["body"] if "cost" in k]
