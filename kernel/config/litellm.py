"""Load and validate a LiteLLM-style config.yaml into frozen attrs classes, reporting every problem at once.

Two steps, as the design asks: JSON Schema for shape (with paths like `model_list[3].litellm_params.model`),
then cattrs into frozen attrs classes. Nothing reads raw config dicts after this module.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any

import attrs
import cattrs
import jsonschema
import yaml
from attrs import Factory, frozen

from kernel import registry
from kernel.config.costs import cost_problems, fold_costs
from kernel.config.observe import ObserveSettings, parse_callbacks
from kernel.errors import ConfigError
from kernel.models import EMPTY, ClientAuthRule, Deployment
from kernel.params import OPENAI_PARAMS

ENV_PREFIX = "os.environ/"


@frozen
class RouterSettings:
    routing_strategy: str = "simple-shuffle"
    num_retries: int = 0
    timeout: float | None = None
    stream_timeout: float | None = None
    allowed_fails: int = 3
    cooldown_time: float = 5.0
    retry_after: float = 0.0
    max_fallbacks: int = 5
    fallbacks: dict[str, list[str]] = Factory(dict)
    context_window_fallbacks: dict[str, list[str]] = Factory(dict)
    content_policy_fallbacks: dict[str, list[str]] = Factory(dict)
    default_fallbacks: list[str] = Factory(list)
    model_group_alias: dict[str, Any] = Factory(dict)
    retry_policy: dict[str, int] = Factory(dict)
    allowed_fails_policy: dict[str, int] = Factory(dict)
    routing_strategy_args: dict[str, Any] = Factory(dict)


@frozen
class GeneralSettings:
    master_key: str | None = attrs.field(default=None, repr=False)
    dangerously_permit_weak_or_unset_master_key: bool = False  # LiteLLM's name for --allow-weak-master-key
    allow_client_side_credentials: bool = False
    max_request_size_mb: float = 10.0
    max_batch_models: int = 10  # names in one `"model": "a,b,..."` batch (duplicates count): each is an upstream call
    max_response_size_mb: float = 128.0  # a non-streamed upstream answer past this is a 502 (streams have no cap)
    database_url: str | None = attrs.field(default=None, repr=False)  # unset: SQLite in the data dir (kernel/store)
    database_connection_pool_limit: int = 10  # PostgreSQL connections per process
    database_connection_timeout: float = 60.0  # seconds to wait for a connection or a statement
    user_api_key_cache_ttl: float = 30.0  # seconds a key/team/user record is served from memory
    max_upstream_connections_per_host: int = 512  # open at once per upstream host; more requests wait in line
    proxy_batch_write_at: float = 2.0  # seconds between the spend writer's batches (middleware/spend/writer.py)
    disable_spend_logs: bool = False  # keep spend counters and daily roll-ups, write no per-call rows
    allow_requests_on_db_unavailable: bool = False  # a key not in the cache passes (unchecked) while the store is down
    require_auth_for_metrics_endpoint: bool | None = None  # GET /metrics needs the master key (None: litellm_settings')
    request_log_file: str | None = None  # one JSON line per call to this file (middleware/observe), rotated by size
    request_log_max_bytes: int = 100 * 1024 * 1024
    request_log_backup_count: int = 5
    background_health_checks: bool = False  # probe every deployment in the background (middleware/routing/probes.py)
    health_check_interval: float = 300.0  # seconds between background runs (LiteLLM's default)


@frozen
class LitellmSettings:
    drop_params: bool = False
    num_retries: int | None = None
    request_timeout: float | None = None
    fallbacks: list[dict[str, list[str]]] = Factory(list)
    context_window_fallbacks: list[dict[str, list[str]]] = Factory(list)
    content_policy_fallbacks: list[dict[str, list[str]]] = Factory(list)
    default_fallbacks: list[str] = Factory(list)
    set_verbose: bool = False
    max_budget: float | None = None  # the whole gateway's budget (USD), over budget_duration
    budget_duration: str | None = None
    # Request logs and callbacks (kernel/config/observe.py, middleware/observe/).
    json_logs: bool = False
    turn_off_message_logging: bool = False
    global_disable_no_log_param: bool = False
    callbacks: list[str] = Factory(list)
    success_callback: list[str] = Factory(list)
    failure_callback: list[str] = Factory(list)
    require_auth_for_metrics_endpoint: bool | None = None


@frozen
class Settings:
    """Everything the gateway needs from the config file, validated."""

    deployments: tuple[Deployment, ...] = ()
    router: RouterSettings = RouterSettings()
    general: GeneralSettings = GeneralSettings()
    drop_params: bool = False
    debug: bool = False
    source: str = "<embedded default>"
    warnings: tuple[str, ...] = ()
    data_dir: str | None = None  # where the embedded SQLite store lives (--data-dir); see kernel/store
    max_budget: float | None = None  # litellm_settings.max_budget: the global budget (middleware/spend/budget.py)
    budget_duration: str | None = None
    observe: ObserveSettings = Factory(ObserveSettings)  # request logs and callbacks (kernel/config/observe.py)
    metrics_auth: bool = True  # GET /metrics needs the master key (when one is set)


# Keys relaykit reads in each section; any other key gets one warning line naming it.
_ROUTER_KEYS = frozenset(attrs.fields_dict(RouterSettings))
_GENERAL_KEYS = frozenset(attrs.fields_dict(GeneralSettings))
_LITELLM_KEYS = frozenset(attrs.fields_dict(LitellmSettings))
_TOP_KEYS = frozenset({"model_list", "router_settings", "litellm_settings", "general_settings", "environment_variables",
                       "callback_settings"})
_PARAM_KEYS = frozenset({
    "model", "api_base", "base_url", "api_key", "api_version", "organization", "timeout", "stream_timeout",
    "rpm", "tpm", "weight", "num_retries", "max_retries", "drop_params", "additional_drop_params",
    "allowed_openai_params", "configurable_clientside_auth_params",
})

# Model names that LiteLLM maps to a provider without a prefix, so seed examples like `model: gpt-3.5-turbo` work.
_INFERRED_PROVIDER = (
    (re.compile(r"^(gpt-|o1|o3|o4|chatgpt-|text-embedding-|dall-e|whisper|tts-|omni-moderation|text-moderation|"
                r"davinci|babbage|gpt-image)"), "openai"),
    (re.compile(r"^claude-"), "anthropic"),
)

_converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


def _schema(name: str) -> dict:
    return json.loads(resources.files("kernel").joinpath("schemas", name).read_text())


CONFIG_SCHEMA = _schema("config.schema.json")
PIPELINES_SCHEMA = _schema("pipelines.schema.json")


def json_path(parts) -> str:
    """`['model_list', 3, 'litellm_params', 'model']` → `model_list[3].litellm_params.model`."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def read_yaml(path: str, problems: list[str]) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        problems.append(f"{path}: file not found")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problems.append(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}")
    except OSError as exc:
        problems.append(f"{path}: cannot read: {exc.strerror}")
    return None


def schema_problems(schema: dict, data: Any, source: str) -> list[str]:
    """Every JSON Schema violation, phrased for a person and prefixed with file and path."""
    validator = jsonschema.Draft202012Validator(schema)
    out = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        out.append(f"{source}: {json_path(err.absolute_path)}: {_phrase(err)}")
    return out


def _phrase(err: jsonschema.ValidationError) -> str:
    v = err.validator
    if v == "type":
        want = err.validator_value if isinstance(err.validator_value, str) else " or ".join(err.validator_value)
        return f"expected {want}, got {_kind(err.instance)} {_short(err.instance)}"
    if v == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        return "missing required key " + ", ".join(f'"{k}"' for k in missing)
    if v == "enum":
        return f"{_short(err.instance)} is not one of: " + ", ".join(map(str, err.validator_value))
    if v == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return "unknown key " + ", ".join(f'"{k}"' for k in extra)
    if v in ("minimum", "exclusiveMinimum"):
        return f"must be {'>=' if v == 'minimum' else '>'} {err.validator_value}, got {_short(err.instance)}"
    if v == "minLength":
        return "must not be empty"
    if v == "pattern":
        return f"{_short(err.instance)} does not match {err.validator_value}"
    if v == "oneOf":
        return f"{_short(err.instance)} has the wrong shape"
    return err.message


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def resolve_env(node: Any, path: list, problems: list[str], source: str) -> Any:
    """Replace every `os.environ/VAR` string with the variable's value; an unset VAR is a problem."""
    if isinstance(node, str) and node.startswith(ENV_PREFIX):
        var = node[len(ENV_PREFIX):]
        value = os.environ.get(var)
        if value is None:
            problems.append(f"{source}: {json_path(path)}: environment variable {var} is not set")
        return value
    if isinstance(node, dict):
        return {k: resolve_env(v, [*path, k], problems, source) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_env(v, [*path, i], problems, source) for i, v in enumerate(node)]
    return node


def _unknown(section: dict, known: frozenset, where: str, warnings: list[str], source: str) -> dict:
    kept = {}
    for key, value in section.items():
        if key in known:
            kept[key] = value
        else:
            warnings.append(f"{source}: {where}{key}: not implemented by relaykit yet; ignored")
    return kept


def split_model(model: str) -> tuple[str | None, str]:
    provider, sep, name = model.partition("/")
    if sep and provider in registry.PROVIDERS:
        return provider, name
    for pattern, inferred in _INFERRED_PROVIDER:
        if pattern.match(model):
            return inferred, model
    return (provider if sep else None), name


def build_deployment(entry: dict, index: int, problems: list[str], warnings: list[str], source: str,
                     where: str = "model_list", *, env: bool = True) -> Deployment | None:
    """One validated model_list entry → a Deployment (None, with problems added, when it is wrong).

    `env=False` (a client's user_config) never fills anything from the server's environment: a client
    could otherwise pair the server's provider key with a base URL of its own.
    """
    here = f"{source}: {where}[{index}]"
    params = dict(entry["litellm_params"])
    provider_name, upstream = split_model(params.pop("model"))
    model_value = entry["litellm_params"]["model"]
    if provider_name is None:
        problems.append(f'{here}.litellm_params.model: expected "provider/name", got "{model_value}"')
        return None
    provider = registry.PROVIDERS.get(provider_name)
    if provider is None:
        known = ", ".join(sorted(registry.PROVIDERS))
        problems.append(f'{here}.litellm_params.model: unknown provider "{provider_name}" (known: {known})')
        return None
    config_keys = provider.config_keys
    problems.extend(cost_problems(params, f"{here}.litellm_params"))
    problems.extend(cost_problems(entry.get("model_info") or {}, f"{here}.model_info"))
    info = fold_costs(params, dict(entry.get("model_info") or {}))  # priced by spend, never sent upstream
    # A provider may name env variables that fill litellm_params left unset (AZURE_API_VERSION → api_version);
    # read here, at startup, because providers never read the environment themselves.
    for key, var in provider.env_defaults.items() if env else ():
        if params.get(key) is None and os.environ.get(var):
            params[key] = os.environ[var]
    extra, defaults = {}, {}
    for key in list(params):
        if key in _PARAM_KEYS:
            continue
        value = params.pop(key)
        if key in config_keys:
            extra[key] = value
        elif key in OPENAI_PARAMS:
            defaults[key] = value
        else:
            warnings.append(f"{here}.litellm_params.{key}: not implemented by relaykit yet; ignored")
    # A provider's `config_env` maps a config key to the environment variables that stand in for it
    # (aws_region_name ← AWS_REGION_NAME, AWS_REGION, ...); read here, at startup, never by the provider.
    for key, names in provider.config_env.items() if env else ():
        if key not in extra:
            value = next((os.environ[n] for n in names if os.environ.get(n)), None)
            if value is not None:
                extra[key] = value
    rules = []
    for i, rule in enumerate(params.get("configurable_clientside_auth_params") or ()):
        if isinstance(rule, str):
            rules.append(ClientAuthRule(rule))
            continue
        (name, pattern), = rule.items()
        try:
            rules.append(ClientAuthRule(name, re.compile(pattern)))
        except re.error as exc:
            problems.append(f"{here}.litellm_params.configurable_clientside_auth_params[{i}].{name}: "
                            f"invalid regular expression: {exc}")
    api_key = params.get("api_key")
    key_env = provider.key_env if env else None
    if api_key is None and key_env:
        api_key = os.environ.get(key_env)  # startup-time read, as LiteLLM does for provider keys
    api_base = params.get("api_base") or params.get("base_url")
    base_env = provider.base_env if env else None
    if api_base is None and base_env:
        api_base = os.environ.get(base_env)
    model_id = str(info.get("id") or _stable_id(entry))
    num_retries = params.get("num_retries", params.get("max_retries"))
    deployment = Deployment(
        id=model_id,
        model_name=entry["model_name"],
        provider=provider_name,
        upstream_model=upstream,
        api_base=api_base.rstrip("/") if api_base else None,
        api_key=api_key,
        api_version=params.get("api_version"),
        organization=params.get("organization"),
        timeout=params.get("timeout"),
        stream_timeout=params.get("stream_timeout"),
        rpm=params.get("rpm", entry.get("rpm")),
        tpm=params.get("tpm", entry.get("tpm")),
        weight=params.get("weight"),
        num_retries=num_retries,
        drop_params=params.get("drop_params"),
        additional_drop_params=tuple(params.get("additional_drop_params") or ()),
        allowed_openai_params=tuple(params.get("allowed_openai_params") or ()),
        clientside_auth=tuple(rules),
        extra=MappingProxyType(extra) if extra else EMPTY,
        defaults=MappingProxyType(defaults) if defaults else EMPTY,
        model_info=MappingProxyType(info) if info else EMPTY,
    )
    for msg in provider.validate_deployment(deployment):
        problems.append(f"{here}.litellm_params: {msg}")
    return deployment


def _stable_id(entry: dict) -> str:
    """A deterministic id per entry that does not fingerprint its key."""
    params = {k: v for k, v in entry["litellm_params"].items() if k != "api_key"}
    digest = hashlib.sha256(json.dumps([entry["model_name"], params], sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def cattrs_problems(exc: cattrs.ClassValidationError, where: str, source: str) -> list[str]:
    """cattrs' "message @ path" lines, rephrased as our "file: path: message"."""
    out = []
    for line in cattrs.transform_error(exc, path=where):
        message, _, path = line.rpartition(" @ ")
        out.append(f"{source}: {path}: {message}" if message else f"{source}: {line}")
    return out


def _structure(cls: type, data: dict, where: str, problems: list[str], source: str):
    try:
        return _converter.structure(data, cls)
    except cattrs.ClassValidationError as exc:
        problems.extend(cattrs_problems(exc, where, source))
    return cls()


def _merge_fallbacks(items: list[dict[str, list[str]]]) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for item in items:
        for k, v in item.items():
            merged.setdefault(k, []).extend(v)
    return merged


def parse_config(data: Any, source: str, *, drop_params: bool = False, debug: bool = False,
                 extra_deployments: list[dict] | None = None, allow_weak_master_key: bool = False) -> Settings:
    """Validate a loaded config tree; raises ConfigError listing every problem."""
    problems: list[str] = []
    warnings: list[str] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: expected a mapping at the top level, got {_kind(data)}"])
    for key, value in (data.get("environment_variables") or {}).items():
        if isinstance(value, (str, int, float, bool)):
            os.environ.setdefault(key, str(value))  # LiteLLM sets these before reading the rest
    data = resolve_env(data, [], problems, source)
    shape = schema_problems(CONFIG_SCHEMA, data, source)
    problems += shape
    if shape and not isinstance(data.get("model_list", []), list):
        raise ConfigError(problems)
    # Entries and sections with a shape problem are reported once and skipped, so the rest is still checked.
    broken = {p.split(": ", 2)[1].split(".")[0] for p in shape}
    data = _unknown(data, _TOP_KEYS, "", warnings, source)
    for section in ("router_settings", "general_settings", "litellm_settings"):
        if section in broken:
            data.pop(section, None)
    router_raw = _unknown(data.get("router_settings") or {}, _ROUTER_KEYS, "router_settings.", warnings, source)
    general_raw = _unknown(data.get("general_settings") or {}, _GENERAL_KEYS, "general_settings.", warnings, source)
    litellm_raw = _unknown(data.get("litellm_settings") or {}, _LITELLM_KEYS, "litellm_settings.", warnings, source)
    router_raw["fallbacks"] = _merge_fallbacks(router_raw.get("fallbacks") or [])  # LiteLLM writes a list of maps
    router_raw["context_window_fallbacks"] = _merge_fallbacks(router_raw.get("context_window_fallbacks") or [])
    router_raw["content_policy_fallbacks"] = _merge_fallbacks(router_raw.get("content_policy_fallbacks") or [])
    router = _structure(RouterSettings, router_raw, "router_settings", problems, source)
    general = _structure(GeneralSettings, general_raw, "general_settings", problems, source)
    litellm = _structure(LitellmSettings, litellm_raw, "litellm_settings", problems, source)
    router = _fold_litellm_settings(router, litellm, router_raw)
    observe = _observe(litellm, general, data.get("callback_settings") or {}, warnings, problems, source)
    deployments = []
    entries = list(data.get("model_list") or []) + list(extra_deployments or [])
    for i, entry in enumerate(entries):
        if f"model_list[{i}]" in broken:
            continue
        d = build_deployment(entry, i, problems, warnings, source)
        if d is not None:
            deployments.append(d)
    if not problems:
        from kernel.config.router_checks import router_problems

        found, doubts = router_problems(router, deployments, f"{source}: router_settings")
        problems += found
        warnings += doubts
    master_key = general.master_key or os.environ.get("RELAYKIT_MASTER_KEY") or None
    if master_key and not (allow_weak_master_key or general.dangerously_permit_weak_or_unset_master_key):
        where = "general_settings.master_key" if general.master_key else "RELAYKIT_MASTER_KEY"
        why = weak_master_key(master_key)
        if why:
            problems.append(f"{source}: {where}: {why}; use a long random key, e.g. the output of "
                            "`python3 -c \"import secrets; print('sk-' + secrets.token_urlsafe(32))\"`, or accept "
                            "this one with --allow-weak-master-key (or general_settings."
                            "dangerously_permit_weak_or_unset_master_key: true)")
    if problems:
        raise ConfigError(problems)
    database_url = general.database_url or os.environ.get("DATABASE_URL") or None
    general = attrs.evolve(general, master_key=master_key, database_url=database_url)
    metrics_auth = general.require_auth_for_metrics_endpoint
    if metrics_auth is None:
        metrics_auth = litellm.require_auth_for_metrics_endpoint
    return Settings(deployments=tuple(deployments), router=router, general=general,
                    drop_params=drop_params or litellm.drop_params, debug=debug or litellm.set_verbose,
                    source=source, warnings=tuple(warnings), max_budget=litellm.max_budget,
                    budget_duration=litellm.budget_duration, observe=observe,
                    metrics_auth=True if metrics_auth is None else metrics_auth)


def _observe(litellm: LitellmSettings, general: GeneralSettings, callback_settings: dict, warnings: list[str],
             problems: list[str], source: str) -> ObserveSettings:
    lists = {"callbacks": litellm.callbacks, "success_callback": litellm.success_callback,
             "failure_callback": litellm.failure_callback}
    return ObserveSettings(
        json_logs=litellm.json_logs, turn_off_message_logging=litellm.turn_off_message_logging,
        global_disable_no_log_param=litellm.global_disable_no_log_param,
        request_log_file=general.request_log_file, request_log_max_bytes=general.request_log_max_bytes,
        request_log_backup_count=general.request_log_backup_count,
        callbacks=parse_callbacks(lists, callback_settings, warnings, problems, source))


MIN_MASTER_KEY = 16
# Keys people type when trying things out (README examples, tutorials, defaults); compared lower-cased,
# with and without an `sk-` prefix. Anything under MIN_MASTER_KEY characters is refused anyway.
WEAK_MASTER_KEYS = frozenset({
    "1234", "12345678", "123456789", "1234567890", "1234567890123456", "0123456789abcdef", "sk-1234",
    "sk-12345678", "password", "passw0rd", "changeme", "change-me", "changeit", "admin", "secret", "test",
    "master", "masterkey", "master-key", "master_key", "letmein", "qwerty", "default", "example", "relaykit",
    "litellm", "passwordpassword", "changemechangeme", "your-master-key", "your-master-key-here",
    "my-master-key", "mysecretmasterkey", "supersecretmasterkey", "relaykit-master-key", "litellm-master-key",
    "your-secret-key", "replace-me", "replace-with-your-key",
})


def weak_master_key(key: str) -> str | None:
    """Why a master key is too weak to guard a gateway, or None. Never repeats the key."""
    if len(key) < MIN_MASTER_KEY:
        return f"the master key is too short ({len(key)} characters; at least {MIN_MASTER_KEY} are needed)"
    lowered = key.lower()
    bare = lowered[3:] if lowered.startswith("sk-") else lowered
    if lowered in WEAK_MASTER_KEYS or bare in WEAK_MASTER_KEYS or len(set(bare)) < 5:
        return "the master key is an obvious one that anyone could guess"
    return None


def _fold_litellm_settings(router: RouterSettings, litellm: LitellmSettings, given: Mapping) -> RouterSettings:
    """LiteLLM accepts retries, timeouts and fallbacks in litellm_settings too; router_settings wins."""
    changes: dict[str, Any] = {}
    if litellm.num_retries is not None and "num_retries" not in given:
        changes["num_retries"] = litellm.num_retries
    if litellm.request_timeout is not None and "timeout" not in given:
        changes["timeout"] = litellm.request_timeout
    for name in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks"):
        if not getattr(router, name) and getattr(litellm, name):
            changes[name] = _merge_fallbacks(getattr(litellm, name))
    if not router.default_fallbacks and litellm.default_fallbacks:
        changes["default_fallbacks"] = litellm.default_fallbacks
    return attrs.evolve(router, **changes) if changes else router


def load_config(path: str | None, *, embedded: Callable[[], dict] | None = None, **kw) -> Settings:
    """Read and validate a config file (or the embedded default when `path` is None)."""
    if path is None:
        return parse_config(embedded() if embedded else {}, "<embedded default>", **kw)
    problems: list[str] = []
    data = read_yaml(path, problems)
    if problems:
        raise ConfigError(problems)
    return parse_config(data, path, **kw)
