"""A user's own logger, named by import path in a callback list (`callbacks: ["mypkg.mylog:MyLogger"]`).

`Name` is a class (made once, with no arguments) or an object; it must have `log(record)`, sync or async, which
gets each call's record as a dict (the JSON line's fields, secrets masked) from a background task, one at a
time, in order: a slow logger delays only its own queue (bounded, drops counted), never a client call.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from typing import Any

import orjson

from kernel.errors import ConfigError
from middleware.observe.outlet import Outlet

log = logging.getLogger("relaykit.observe")

MAX_QUEUED = 10_000


def load_logger(path: str, where: str) -> Any:
    """The object at `package.module:Name` (an instance of it when it is a class); a ConfigError naming the
    entry when it cannot be imported or has no `log`."""
    module_name, _, attr = path.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        raise ConfigError([f"{where}: cannot import {module_name!r} for logger {path!r}: {exc}"]) from None
    except AttributeError:
        raise ConfigError([f"{where}: module {module_name!r} has no attribute {attr!r}"]) from None
    if inspect.isclass(target):
        try:
            target = target()
        except Exception as exc:
            raise ConfigError([f"{where}: logger {path!r} could not be created: {exc}"]) from None
    if not callable(getattr(target, "log", None)):
        raise ConfigError([f"{where}: logger {path!r} has no log(record) method"])
    return target


class UserLogger(Outlet):
    def __init__(self, path: str, target: Any, scrubber) -> None:
        super().__init__(f"logger {path}", scrubber, max_queued=MAX_QUEUED, batch_size=100, flush_interval=0.2)
        self.target = target

    async def deliver(self, lines: list[bytes]) -> None:
        fn = self.target.log
        for data in lines:
            try:
                done = fn(orjson.loads(data))
                if inspect.isawaitable(done):
                    await done
                self.sent += 1
                self.last_error = None
            except Exception as exc:  # the user's bug: logged, that record lost, the rest still delivered
                log.exception("request log %s: log() failed", self.name)
                self.last_error = f"log() raised {type(exc).__name__}"
                self.lost(1, "log() raised")
