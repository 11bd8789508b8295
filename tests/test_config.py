"""Config and pipelines validation: every problem reported at once, with the file, the path and what is wrong."""

from __future__ import annotations

import pytest
import yaml

from kernel.config import load_config, parse_config
from kernel.errors import ConfigError
from kernel.pipeline import load_pipelines
from kernel.state import Gateway


def problems_of(config, source="config.yaml") -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(config, source)
    return info.value.problems


def test_every_error_is_reported_with_its_path(monkeypatch):
    monkeypatch.delenv("RELAYKIT_TEST_UNSET", raising=False)
    config = {
        "model_list": [
            {"model_name": "ok", "litellm_params": {"model": "openai/gpt-4o"}},
            {"model_name": "no-params"},
            {"model_name": "bad-timeout", "litellm_params": {"model": "openai/x", "timeout": "soon"}},
            {"model_name": "bad-model", "litellm_params": {"model": "gpt4"}},
            {"model_name": "env", "litellm_params": {"model": "openai/x", "api_key": "os.environ/RELAYKIT_TEST_UNSET"}},
        ],
        "router_settings": {"routing_strategy": "round-robin", "num_retries": -1},
    }
    assert problems_of(config) == [
        "config.yaml: model_list[4].litellm_params.api_key: environment variable RELAYKIT_TEST_UNSET is not set",
        'config.yaml: model_list[1]: missing required key "litellm_params"',
        'config.yaml: model_list[2].litellm_params.timeout: expected number, got string "soon"',
        "config.yaml: router_settings.num_retries: must be >= 0, got -1",
        'config.yaml: router_settings.routing_strategy: "round-robin" is not one of: simple-shuffle, least-busy, '
        "latency-based-routing, usage-based-routing, usage-based-routing-v2, cost-based-routing",
        'config.yaml: model_list[3].litellm_params.model: expected "provider/name", got "gpt4"',
    ]
    monkeypatch.setenv("RELAYKIT_TEST_UNSET", "sk-x")
    assert len(problems_of(config)) == 5  # the same file less the unset variable


def test_model_must_name_a_known_provider():
    config = {"model_list": [
        {"model_name": "a", "litellm_params": {"model": "gpt4"}},
        {"model_name": "b", "litellm_params": {"model": "nosuch/model"}},
    ]}
    problems = problems_of(config)
    assert problems[0] == 'config.yaml: model_list[0].litellm_params.model: expected "provider/name", got "gpt4"'
    assert problems[1].startswith('config.yaml: model_list[1].litellm_params.model: unknown provider "nosuch" (known: ')
    assert len(problems) == 2


def test_top_level_must_be_a_mapping():
    assert problems_of(["a"]) == ["config.yaml: expected a mapping at the top level, got array"]


def test_unknown_keys_warn_once_each_and_are_ignored():
    settings = parse_config({
        "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/gpt-4o", "temperature": 0.1,
                                                              "frobnicate": 1}}],
        "litellm_settings": {"drop_params": True, "success_callback": ["datadog"], "callbacks": ["prometheus"]},
        "general_settings": {"alerting": ["slack"]},
        "router_settings": {"redis_host": "localhost"},
        "guardrails": [],
    }, "config.yaml")
    assert list(settings.warnings) == [
        "config.yaml: guardrails: not implemented by relaykit yet; ignored",
        "config.yaml: router_settings.redis_host: not implemented by relaykit yet; ignored",
        "config.yaml: general_settings.alerting: not implemented by relaykit yet; ignored",
        # prometheus is implemented (no warning); each other callback is named
        "config.yaml: litellm_settings.success_callback[0]: callback 'datadog' is not implemented by relaykit yet; "
        "ignored (relaykit has: generic, generic_api, langfuse, otel, prometheus, webhook, and loggers given as "
        "'package.module:Name')",
        "config.yaml: model_list[0].litellm_params.frobnicate: not implemented by relaykit yet; ignored",
    ]
    d = settings.deployments[0]
    assert dict(d.defaults) == {"temperature": 0.1}  # known request params become per-deployment defaults
    assert settings.drop_params is True
    assert [c.kind for c in settings.observe.of_kind("prometheus")] == ["prometheus"]


def test_database_settings_are_read_not_warned_about(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = parse_config({"general_settings": {
        "database_url": "postgresql://db/relay", "database_connection_pool_limit": 4,
        "database_connection_timeout": 5, "user_api_key_cache_ttl": 0}}, "config.yaml")
    assert settings.warnings == ()
    general = settings.general
    assert (general.database_url, general.database_connection_pool_limit) == ("postgresql://db/relay", 4)
    assert (general.database_connection_timeout, general.user_api_key_cache_ttl) == (5, 0)
    assert "postgresql://db" not in repr(general)  # a URL may carry a password
    monkeypatch.setenv("DATABASE_URL", "postgres://from-env/x")
    assert parse_config({}, "config.yaml").general.database_url == "postgres://from-env/x"
    (problem,) = problems_of({"general_settings": {"database_connection_pool_limit": 0}})
    assert problem.startswith("config.yaml: general_settings.database_connection_pool_limit: must be >= 1")
    (problem,) = problems_of({"general_settings": {"database_url": "mysql://x"}})
    assert problem.startswith('config.yaml: general_settings.database_url: "mysql://x" does not match')


def test_env_references_resolve_anywhere(monkeypatch):
    monkeypatch.setenv("RK_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("RK_KEY", "sk-from-env")
    monkeypatch.setenv("RK_MASTER", "sk-master-0123456789abcdef")
    settings = parse_config({
        "model_list": [{"model_name": "m", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": "os.environ/RK_BASE", "api_key": "os.environ/RK_KEY"}}],
        "general_settings": {"master_key": "os.environ/RK_MASTER"},
    }, "config.yaml")
    d = settings.deployments[0]
    assert (d.api_base, d.api_key) == ("http://127.0.0.1:9/v1", "sk-from-env")
    assert settings.general.master_key == "sk-master-0123456789abcdef"


def test_provider_key_variable_is_the_default_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-default")
    settings = parse_config({"model_list": [{"model_name": "m", "litellm_params": {"model": "openai/gpt-4o"}}]}, "c")
    assert settings.deployments[0].api_key == "sk-env-default"


def test_litellm_settings_fold_into_router_settings():
    settings = parse_config({
        "litellm_settings": {"num_retries": 3, "request_timeout": 12, "fallbacks": [{"a": ["b"]}]},
        "router_settings": {"context_window_fallbacks": [{"a": ["big-a"]}, {"c": ["big-c"]}]},
    }, "c")
    r = settings.router
    assert (r.num_retries, r.timeout) == (3, 12)
    assert r.fallbacks == {"a": ["b"]}
    assert r.context_window_fallbacks == {"a": ["big-a"], "c": ["big-c"]}


def test_wildcards_and_lookup():
    settings = parse_config({"model_list": [
        {"model_name": "openai/*", "litellm_params": {"model": "openai/*"}},
        {"model_name": "*", "litellm_params": {"model": "openai/*"}},
        {"model_name": "exact", "litellm_params": {"model": "openai/gpt-exact"}},
    ]}, "c")
    gw = Gateway(settings)
    assert [d.upstream_model for d in gw.models.lookup("openai/gpt-4o")] == ["gpt-4o"]
    assert [d.upstream_model for d in gw.models.lookup("some-model")] == ["some-model"]
    assert [d.upstream_model for d in gw.models.lookup("exact")] == ["gpt-exact"]


def test_config_file_errors_name_the_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("model_list:\n  - model_name: a\n    litellm_params: {model: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert info.value.problems[0].startswith(f"{path}: not valid YAML (line 4, column 1): ")
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "missing.yaml"))
    assert info.value.problems == [f"{tmp_path / 'missing.yaml'}: file not found"]


def test_pipelines_errors_are_all_reported(tmp_path):
    path = tmp_path / "pipelines.yaml"
    path.write_text(yaml.safe_dump({"pipelines": {
        "a": {"paths": ["/a"], "endpoint": "chat", "dialect": "klingon", "chain": ["encode", "nosuch"]},
        "b": {"paths": ["/a"], "endpoint": "chat", "dialect": "openai", "chain": ["encode", {"auth": {"x": 1}}]},
        "c": {"paths": ["no-slash"], "endpoint": "chat", "dialect": "openai", "chain": "missing"},
    }}))
    gw = Gateway(parse_config({}, "c"))
    with pytest.raises(ConfigError) as info:
        load_pipelines(str(path), gw)
    assert info.value.problems == [f'{path}: pipelines.c.paths[0]: "no-slash" does not match ^/']
    path.write_text(path.read_text().replace("no-slash", "/c"))
    with pytest.raises(ConfigError) as info:
        load_pipelines(str(path), gw)
    problems = info.value.problems
    assert problems[0] == f"{path}: pipelines.a.dialect: unknown dialect 'klingon' (known: " + problems[0].split("known: ")[1]
    assert problems[1].startswith(f"{path}: pipelines.a.chain[1]: unknown middleware 'nosuch' (known: ")
    assert problems[2] == f"{path}: pipelines.b.paths: POST /a is already served by pipeline 'a'"
    assert problems[3] == f"{path}: pipelines.b.chain[1].auth: this middleware takes no options"
    assert problems[4] == f"{path}: pipelines.c.chain: no chain named 'missing' under `chains`"
    assert len(problems) == 5


def test_builtin_pipelines_file_is_valid_and_shipped():
    gw = Gateway(parse_config({}, "c"))
    pipelines = load_pipelines(None, gw)
    assert {"chat", "embeddings", "models", "health_liveliness"} <= set(pipelines)
