"""Configuration: a LiteLLM proxy config.yaml read, checked and turned into frozen settings (see litellm.py)."""

from kernel.config.litellm import (
    CONFIG_SCHEMA,
    ENV_PREFIX,
    PIPELINES_SCHEMA,
    GeneralSettings,
    RouterSettings,
    Settings,
    build_deployment,
    cattrs_problems,
    json_path,
    load_config,
    parse_config,
    read_yaml,
    schema_problems,
)

__all__ = ["CONFIG_SCHEMA", "ENV_PREFIX", "PIPELINES_SCHEMA", "GeneralSettings", "RouterSettings", "Settings",
           "build_deployment", "cattrs_problems", "json_path", "load_config", "parse_config", "read_yaml",
           "schema_problems"]
