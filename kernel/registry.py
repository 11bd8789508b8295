"""Name registries for middlewares, dialects and providers, and the plugin loader that fills them.

The kernel never imports a dialect or provider by name: packages announce themselves through the
`relaykit.plugins` entry-point group (see pyproject.toml), and importing a plugin registers it.
A chain entry that is not a registered name is treated as an import path `package.module:Name`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

MIDDLEWARES: dict[str, type] = {}
DIALECTS: dict[str, Any] = {}
PROVIDERS: dict[str, Any] = {}

_loaded = False


def middleware(name: str):
    """Class decorator: register a middleware class under a short name for pipelines.yaml."""

    def add(cls: type) -> type:
        MIDDLEWARES[name] = cls
        return cls

    return add


def register_dialect(name: str, dialect: Any) -> None:
    DIALECTS[name] = dialect


def register_provider(name: str, provider: Any) -> None:
    PROVIDERS[name] = provider


def load_plugins() -> None:
    """Import every installed relaykit plugin once; each registers what it brings."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for ep in entry_points(group="relaykit.plugins"):
        importlib.import_module(ep.value)


def resolve_middleware(name: str) -> type:
    """A registered short name, or an import path `package.module:Name`."""
    if name in MIDDLEWARES:
        return MIDDLEWARES[name]
    if ":" not in name:
        known = ", ".join(sorted(MIDDLEWARES))
        raise LookupError(f"unknown middleware {name!r} (known: {known}; or give an import path 'package.module:Name')")
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LookupError(f"cannot import {module_name!r} for middleware {name!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise LookupError(f"module {module_name!r} has no attribute {attr!r}") from None


def provider_for(name: str) -> Any:
    return PROVIDERS.get(name)
