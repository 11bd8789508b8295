"""Helpers for middleware unit tests: a Call builder and a fake `next` that records what it received."""

from __future__ import annotations

from kernel.call import Call, Reply
from kernel.config import parse_config
from kernel.state import Gateway


def make_gateway(config: dict | None = None) -> Gateway:
    return Gateway(parse_config(config or {}, "test-config.yaml"))


def make_call(gateway: Gateway, body: bytes = b"{}", *, endpoint: str = "chat", headers: dict | None = None,
              dialect: str = "openai") -> Call:
    return Call(id="call-1", route=endpoint, endpoint=endpoint, dialect=dialect, gateway=gateway,
                headers=headers or {}, raw=body)


class RecordingNext:
    """A fake `next`: remembers each Call it was given (with a snapshot of its body) and answers `reply`."""

    def __init__(self, reply: Reply | None = None, error: Exception | None = None) -> None:
        self.calls: list[Call] = []
        self.bodies: list[object] = []
        self.reply = reply or Reply(body={"ok": True})
        self.error = error

    async def __call__(self, call: Call) -> Reply:
        self.calls.append(call)
        self.bodies.append(call.body)
        if self.error is not None:
            raise self.error
        return self.reply
