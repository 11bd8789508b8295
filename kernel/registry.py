"""Name registries for middlewares, dialects and providers, and the plugin loader that fills them.

The kernel never imports a dialect or provider by name: packages announce themselves through the
`relaykit.plugins` entry-point group (see pyproject.toml), and importing a plugin registers it. Registering
checks the plugin against its contract (kernel/plugins.py): a provider or dialect missing a piece is a TypeError
at import, naming it, never an AttributeError mid-request.
A chain entry that is not a registered name is treated as an import path `package.module:Name`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from kernel.plugins import Dialect, Provider, check_dialect, check_provider

MIDDLEWARES: dict[str, type] = {}
DIALECTS: dict[str, Dialect] = {}
PROVIDERS: dict[str, Provider] = {}

_loaded = False


def middleware(name: str):
    """Class decorator: register a middleware class under a short name for pipelines.yaml."""

    def add(cls: type) -> type:
        MIDDLEWARES[name] = cls
        return cls

    return add


def register_dialect(name: str, dialect: Dialect) -> None:
    check_dialect(name, dialect)
    DIALECTS[name] = dialect


def register_provider(name: str, provider: Provider) -> None:
    check_provider(name, provider)
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


def provider_for(name: str) -> Provider | None:
    return PROVIDERS.get(name)
