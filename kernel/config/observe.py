"""The logging and callback settings (LiteLLM's `callbacks`, `success_callback`, `failure_callback`, `json_logs`,
`turn_off_message_logging`, `callback_settings`) read once into frozen settings; the one place callback lists are
parsed, so every sink (request logs, metrics, traces) finds its entries the same way.

A callback entry is one of: a built-in name (`KINDS`), a name with a `callback_settings` entry whose
`callback_type` is `generic_api` (LiteLLM's webhook form), or an import path `package.module:Name` (a user's own
logger). Anything else is warned about by name and ignored, like every key relaykit does not implement yet.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from attrs import frozen

from kernel.config.traces import trace_settings
from kernel.models import EMPTY

# Built-in callback names → what serves them (metrics: middleware/observe/state.py; webhooks: webhook.py;
# traces: traces.py, with `langfuse` as OTLP towards Langfuse's endpoint, kernel/config/traces.py).
KINDS: dict[str, str] = {"prometheus": "prometheus", "webhook": "webhook", "generic_api": "webhook", "generic": "webhook",
                         "otel": "otel", "langfuse": "otel"}
LISTS = {"callbacks": frozenset({"success", "failure"}), "success_callback": frozenset({"success"}),
         "failure_callback": frozenset({"failure"})}
_EVENT_TYPES = {"llm_api_success": "success", "llm_api_failure": "failure"}  # LiteLLM's generic_api event_types
_WEBHOOK_KEYS = frozenset({"callback_type", "endpoint", "headers", "event_types", "log_format", "batch_size",
                           "flush_interval", "max_queued", "max_retries", "timeout"})


@frozen
class Callback:
    """One callback entry: its name as written, what serves it, which calls it gets, and its own settings."""

    name: str
    kind: str  # webhook · logger · prometheus · otel
    events: frozenset[str]  # success, failure
    settings: Mapping[str, Any] = EMPTY  # a webhook's endpoint, headers, ...; a logger's import path


@frozen
class ObserveSettings:
    json_logs: bool = False  # litellm_settings.json_logs: one JSON line per call on stdout
    turn_off_message_logging: bool = False  # no request or response bodies in any record
    global_disable_no_log_param: bool = False  # ignore clients' `no-log`
    request_log_file: str | None = None  # general_settings.request_log_file: JSON lines to this file
    request_log_max_bytes: int = 100 * 1024 * 1024  # rotate past this size
    request_log_backup_count: int = 5  # rotated files kept (file.1 ... file.N)
    callbacks: tuple[Callback, ...] = ()

    def of_kind(self, kind: str) -> tuple[Callback, ...]:
        return tuple(c for c in self.callbacks if c.kind == kind)


def parse_callbacks(litellm: Mapping[str, Any], callback_settings: Mapping[str, Any], warnings: list[str],
                    problems: list[str], source: str) -> tuple[Callback, ...]:
    """Every entry of the three callback lists, merged by name (a name in two lists gets both events)."""
    found: dict[str, Callback] = {}
    for field, events in LISTS.items():
        for i, name in enumerate(litellm.get(field) or ()):
            where = f"{source}: litellm_settings.{field}[{i}]"
            known = found.get(name)
            if known is not None:
                found[name] = Callback(name, known.kind, known.events | events, known.settings)
                continue
            known_problems = len(problems)
            entry = _entry(name, events, callback_settings.get(name), where, problems)
            if entry is None and len(problems) == known_problems:  # else: a known name, wrongly set up (said)
                warnings.append(f"{where}: callback {name!r} is not implemented by relaykit yet; ignored "
                                "(relaykit has: " + ", ".join(sorted(KINDS)) + ", and loggers given as "
                                "'package.module:Name')")
            elif entry is not None:
                found[name] = entry
    for name in callback_settings:
        if name not in found:
            warnings.append(f"{source}: callback_settings.{name}: not named in any callback list; ignored")
    return tuple(found.values())


def _entry(name: str, events: frozenset[str], own: Any, where: str, problems: list[str]) -> Callback | None:
    if ":" in name:
        return Callback(name, "logger", events, MappingProxyType({"path": name}))
    own = own if isinstance(own, Mapping) else None
    kind = KINDS.get(name)
    if own is not None and own.get("callback_type") == "generic_api":
        kind = "webhook"
    if kind is None:
        return None
    if kind == "otel":
        settings = trace_settings(name, own, where, problems)
        return None if settings is None else Callback(name, kind, events, settings)
    if kind != "webhook":
        return Callback(name, kind, events, MappingProxyType(dict(own or {})))
    return _webhook(name, events, own or {}, where, problems)


def _webhook(name: str, events: frozenset[str], own: Mapping[str, Any], where: str,
             problems: list[str]) -> Callback | None:
    extra = sorted(set(own) - _WEBHOOK_KEYS)
    if extra:
        problems.append(f"{where}: callback_settings.{name}: unknown key " + ", ".join(f'"{k}"' for k in extra))
    endpoint = own.get("endpoint") or os.environ.get("GENERIC_LOGGER_ENDPOINT")
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        problems.append(f"{where}: webhook {name!r} needs an http(s) endpoint: callback_settings.{name}.endpoint "
                        "or the GENERIC_LOGGER_ENDPOINT environment variable")
        return None
    headers = own.get("headers")
    if headers is None:
        headers = _env_headers(os.environ.get("GENERIC_LOGGER_HEADERS", ""))
    if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
        problems.append(f"{where}: callback_settings.{name}.headers: expected a mapping of strings")
        return None
    types = own.get("event_types")
    if types is not None:
        if not isinstance(types, list) or any(t not in _EVENT_TYPES for t in types):
            problems.append(f"{where}: callback_settings.{name}.event_types: expected a list of "
                            + ", ".join(_EVENT_TYPES))
            return None
        events = events & frozenset(_EVENT_TYPES[t] for t in types)
    fmt = own.get("log_format", "json_array")
    if fmt not in ("json_array", "ndjson"):
        problems.append(f"{where}: callback_settings.{name}.log_format: expected json_array or ndjson")
        return None
    numbers = {"batch_size": (100, int), "flush_interval": (1.0, float), "max_queued": (10_000, int),
               "max_retries": (5, int), "timeout": (10.0, float)}
    settings: dict[str, Any] = {"endpoint": endpoint, "headers": dict(headers), "log_format": fmt}
    for key, (default, kind) in numbers.items():
        value = own.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < (0 if key == "max_retries" else 1e-3):
            problems.append(f"{where}: callback_settings.{name}.{key}: expected a positive number, got {value!r}")
            return None
        settings[key] = kind(value)
    return Callback(name, "webhook", events, MappingProxyType(settings))


def _env_headers(text: str) -> dict[str, str]:
    """LiteLLM's GENERIC_LOGGER_HEADERS: `Name=value,Other=value`."""
    out = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip():
            out[name.strip()] = value.strip()
    return out
