"""The trace callbacks: `otel` (OTLP/HTTP wherever the standard OTEL_EXPORTER_OTLP_* variables point) and `langfuse`
(OTLP/HTTP to Langfuse's own endpoint, with LiteLLM's LANGFUSE_* variables), checked at start-up.

Both become a Callback of kind "otel" whose settings hold an explicit `endpoint` and `headers` (or none, for the
exporter to read the environment itself). Whatever cannot work is a start-up problem, never a silent ignore.
"""

from __future__ import annotations

import base64
import importlib
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

INSTALL = "pip install 'relaykit[otel]'"
# What the exporter needs at run time; imported here so a missing one stops the start, not the first call.
PACKAGES = ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter")
LANGFUSE_DEFAULT_HOST = "https://cloud.langfuse.com"  # LiteLLM's default when LANGFUSE_HOST is unset
LANGFUSE_PATH = "/api/public/otel/v1/traces"  # Langfuse's OTLP/HTTP traces endpoint
_OTEL_KEYS = frozenset({"endpoint", "headers"})


def trace_settings(name: str, own: Mapping[str, Any] | None, where: str,
                   problems: list[str]) -> Mapping[str, Any] | None:
    """The exporter settings of a trace callback (`otel` or `langfuse`), or None with problems added."""
    missing = _missing_packages()
    if missing:
        problems.append(f"{where}: callback {name!r} needs the OpenTelemetry SDK and OTLP exporter, which are not "
                        f"installed ({missing}): {INSTALL}")
        return None
    if name == "langfuse":
        return _langfuse(where, problems)
    own = own or {}
    extra = sorted(set(own) - _OTEL_KEYS)
    if extra:
        problems.append(f"{where}: callback_settings.{name}: unknown key " + ", ".join(f'"{k}"' for k in extra))
        return None
    settings: dict[str, Any] = {}
    endpoint = own.get("endpoint")
    if endpoint is not None:
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            problems.append(f"{where}: callback_settings.{name}.endpoint: expected the http(s) URL of an OTLP/HTTP "
                            f"traces endpoint (e.g. http://localhost:4318/v1/traces), got {endpoint!r}")
            return None
        settings["endpoint"] = endpoint
    headers = own.get("headers")
    if headers is not None:
        if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
            problems.append(f"{where}: callback_settings.{name}.headers: expected a mapping of strings")
            return None
        settings["headers"] = dict(headers)
    return MappingProxyType(settings)


def _langfuse(where: str, problems: list[str]) -> Mapping[str, Any] | None:
    public, secret = os.environ.get("LANGFUSE_PUBLIC_KEY"), os.environ.get("LANGFUSE_SECRET_KEY")
    unset = [n for n, v in (("LANGFUSE_PUBLIC_KEY", public), ("LANGFUSE_SECRET_KEY", secret)) if not v]
    if unset:
        problems.append(f"{where}: callback 'langfuse' sends traces over OTLP to Langfuse and needs "
                        + " and ".join(unset) + " set (and LANGFUSE_HOST for a region or a self-hosted Langfuse; "
                        f"default {LANGFUSE_DEFAULT_HOST}); or use callbacks: [\"otel\"] with "
                        "OTEL_EXPORTER_OTLP_ENDPOINT for another OTLP receiver")
        return None
    host = os.environ.get("LANGFUSE_OTEL_HOST") or os.environ.get("LANGFUSE_HOST") or LANGFUSE_DEFAULT_HOST
    if not host.startswith(("http://", "https://")):
        problems.append(f"{where}: callback 'langfuse': LANGFUSE_HOST must be an http(s) URL, got {host!r}")
        return None
    token = base64.b64encode(f"{public}:{secret}".encode()).decode()
    # The ingestion-version header asks Langfuse for its real-time path (its API reference says direct OTLP
    # exporters send it).
    return MappingProxyType({"endpoint": host.rstrip("/") + LANGFUSE_PATH,
                             "headers": {"Authorization": f"Basic {token}", "x-langfuse-ingestion-version": "4"}})


def _missing_packages() -> str:
    for name in PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            return name
    return ""
