"""The Gateway: state shared by every request of one process (settings, model table, hooks)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kernel.config import Settings
from kernel.guards.secrets import Scrubber
from kernel.models import ModelTable


class Gateway:
    """Built once at startup; middlewares read it and may hang cross-request state on `shared`."""

    __slots__ = ("models", "pipelines", "scrubber", "settings", "shared", "shutdown", "startup")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        aliases = {k: (v["model"] if isinstance(v, dict) else v) for k, v in settings.router.model_group_alias.items()}
        self.models = ModelTable(list(settings.deployments), aliases)
        self.scrubber = Scrubber.from_settings(settings)  # masks secrets in error text and logs (kernel/guards/secrets.py)
        self.shared: dict[str, Any] = {}  # e.g. the pooled upstream client, cooldown tables
        self.startup: list[Callable[[], Awaitable[None]]] = []
        self.shutdown: list[Callable[[], Awaitable[None]]] = []
        self.pipelines: dict[str, Any] = {}

    def on_startup(self, fn: Callable[[], Awaitable[None]]) -> None:
        self.startup.append(fn)

    def on_shutdown(self, fn: Callable[[], Awaitable[None]]) -> None:
        self.shutdown.append(fn)
