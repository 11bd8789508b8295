"""Run real HTTP servers on loopback for tests: any ASGI app in a uvicorn thread, and the gateway itself."""

from __future__ import annotations

import argparse
import socket
import threading
import time
from pathlib import Path

import uvicorn
import yaml

from kernel.serve.cli import build
from kernel.serve.protocol import Limits, uvicorn_options


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """A uvicorn server (uvloop, httptools, like production) in a background thread. With `limits`, it is relaykit's
    own server (kernel/serve/protocol.py, as the CLI runs it); without, plain uvicorn (for the fake upstreams)."""

    def __init__(self, app, port: int | None = None, *, limits: Limits | None = None) -> None:
        self.app = app
        self.data_dir: Path | None = None  # where a gateway's embedded store lives
        self.port = port or free_port()
        if limits is not None:
            config = uvicorn.Config(app, **uvicorn_options(limits, host="127.0.0.1", port=self.port))
        else:
            config = uvicorn.Config(app, host="127.0.0.1", port=self.port, loop="uvloop", http="httptools",
                                    lifespan="on", log_level="warning", access_log=False, timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def gateway(config: dict | None, tmp_path: Path, *, pipelines: dict | None = None, drop_params: bool = False,
            model: str | None = None, limits: Limits | None = None, data_dir: Path | None = None) -> ServerThread:
    """The real relaykit app, built from a config dict exactly as the CLI builds it, on a free port, served by
    relaykit's own server (a 2 s shutdown grace unless `limits` say otherwise)."""
    config_path = None
    if config is not None:
        config_path = tmp_path / f"config-{free_port()}.yaml"
        config_path.write_text(yaml.safe_dump(config))
    pipelines_path = None
    if pipelines is not None:
        pipelines_path = tmp_path / f"pipelines-{free_port()}.yaml"
        pipelines_path.write_text(yaml.safe_dump(pipelines))
    args = argparse.Namespace(config=str(config_path) if config_path else None,
                              pipelines=str(pipelines_path) if pipelines_path else None,
                              host="127.0.0.1", port=0, num_workers=1, model=model,
                              drop_params=drop_params, detailed_debug=False,
                              data_dir=str(data_dir or tmp_path / "data"))  # the store stays in the test's tmp dir
    _, app = build(args)
    server = ServerThread(app, limits=limits or Limits(graceful_timeout=2))
    server.data_dir = Path(args.data_dir)
    return server
