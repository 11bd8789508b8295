"""Multipart request bodies: parsed by starlette on demand, or streamed through untouched, within the size limit."""

from __future__ import annotations

from kernel.errors import ClientError, PayloadTooLarge, RequestTimeout

# Put in a request's scope by the server (kernel/serve/protocol.py) when the body has not fully arrived within its body
# timeout (the value is that timeout, in seconds); the server then wakes the reader, which answers 408.
BODY_TIMED_OUT = "relaykit.body_timed_out"


def body_timeout(scope) -> RequestTimeout:
    return RequestTimeout(f"the request body did not arrive within {scope[BODY_TIMED_OUT]:g}s")


class Upload:
    """A multipart body left unread until asked for: parsed by starlette (which spools large files to disk)
    for the fields, or streamed through untouched."""

    __slots__ = ("_form", "limit", "receive", "scope")

    def __init__(self, scope, receive, limit: int) -> None:
        self.scope, self.receive, self.limit, self._form = scope, _limited(receive, limit, scope), limit, None

    async def get(self):
        if self._form is None:
            from starlette.exceptions import HTTPException
            from starlette.formparsers import MultiPartException
            from starlette.requests import Request

            request = Request(self.scope, self.receive)
            try:
                self._form = await request.form(max_part_size=self.limit)
            except (MultiPartException, HTTPException) as exc:
                # A body that is not the multipart its Content-Type claims (a JSON body sent as a form, a
                # missing boundary) is the client's mistake: a 400 naming the header, not a 500.
                detail = getattr(exc, "message", None) or getattr(exc, "detail", "")
                raise ClientError(f"the body is not valid for Content-Type {request.headers.get('content-type')!r}: "
                                  f"{detail}", param="content-type") from None
        return self._form

    async def chunks(self):
        while True:
            message = await self.receive()
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body"):
                return


def _limited(receive, limit: int, scope):
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise PayloadTooLarge(f"upload is over the {limit}-byte limit")
        if message.get("more_body") and BODY_TIMED_OUT in scope:
            raise body_timeout(scope)
        return message

    return wrapped
