"""A fake upstream that answers any path on its host and records each request's method, raw path and query
exactly as they arrived, so a test can see whether anything left the prefix it was meant for."""

from __future__ import annotations


class PathRecorder:
    """Raw ASGI on purpose: a framework's router would answer 404 for the paths these tests most need to see.
    The instance is the app (uvicorn takes a bound method for the old two-step ASGI 2 interface)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.app = self

    def clear(self) -> None:
        self.requests.clear()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests.append({
            "method": scope["method"], "raw_path": scope["raw_path"].decode("latin-1"),
            "query": scope["query_string"].decode("latin-1"), "body": body,
            "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
        })
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"object": "recorded"}'})
