"""The floor: a bare pass-through on relaykit's own stack (uvicorn, uvloop, httptools, kernel/transport/http1.py), no pipeline.

It forwards the client's body to the upstream's chat completions and the answer back, nothing else, so
relaykit minus this is what the pipeline costs, and this minus direct is what the stack costs on this machine.
Run alone: `python -m bench.floor --port 9100 --upstream http://127.0.0.1:9000`.
"""

from __future__ import annotations

import argparse


def make_app(upstream: str, key: str):
    from kernel.transport.http1 import Pool

    url = upstream + "/v1/chat/completions"
    headers = {"content-type": "application/json", "authorization": "Bearer " + key}
    state: dict = {}

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        pool = state.get("pool")
        if pool is None:
            pool = state["pool"] = Pool()
        conn = await pool.request("POST", url, headers, body, pool.loop.time() + 60)
        data = await conn.read()
        await send({"type": "http.response.start", "status": conn.status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]})
        await send({"type": "http.response.body", "body": data})

    return app


def main() -> None:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--key", default="sk-bench-upstream")
    a = p.parse_args()
    uvicorn.run(make_app(a.upstream, a.key), host="127.0.0.1", port=a.port, loop="uvloop", http="httptools",
                lifespan="off", access_log=False, log_level="warning", server_header=False, date_header=False)


if __name__ == "__main__":
    main()
