"""The `relaykit` command started as a real process on a free port, for tests that need the CLI's own server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from tests.servers import free_port


class Relaykit:
    """`python -m kernel.serve.cli ARGS` on 127.0.0.1, started and waited for ("listening on"); stderr is collected."""

    def __init__(self, args: list[str], *, config: dict | None = None, tmp_path: Path | None = None,
                 preexec_fn=None) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "kernel.serve.cli", *args, "--host", "127.0.0.1", "--port", str(self.port)]
        if config is not None:
            path = tmp_path / f"config-{self.port}.yaml"
            path.write_text(yaml.safe_dump(config))
            argv += ["--config", str(path)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
                                     preexec_fn=preexec_fn)
        self.stderr: list[str] = []
        threading.Thread(target=self._collect, daemon=True).start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if "listening on" in line:
                self._wait_until_served()
                return
        self.proc.kill()
        raise RuntimeError(f"relaykit did not start: {''.join(self.stderr)}")

    def _collect(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)

    def _wait_until_served(self) -> None:
        # With --num_workers the parent prints before its workers listen.
        import socket

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Relaykit:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
