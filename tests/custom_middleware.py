"""A user-written middleware, loaded by import path from a pipelines file (as a team's own code would be)."""

from __future__ import annotations

from attrs import frozen

from kernel.errors import PermissionDenied


class StampHeader:
    """Adds a fixed response header; refuses bodies that mention a forbidden word."""

    @frozen
    class Options:
        header: str
        value: str
        forbidden: str | None = None

    def __init__(self, options: Options, gateway) -> None:
        self.options = options

    async def __call__(self, call, next):
        if self.options.forbidden and self.options.forbidden.encode() in call.raw:
            raise PermissionDenied(f"requests mentioning {self.options.forbidden!r} are not allowed here")
        reply = await next(call)
        call.reply_headers[self.options.header] = self.options.value
        return reply
