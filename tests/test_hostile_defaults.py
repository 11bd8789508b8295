"""Secure by default, with the CLI as a subprocess: a weak master key stops startup (unless the operator
says otherwise), and a gateway with no master key listens on 127.0.0.1 only unless --host says where."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
import yaml

from tests.servers import free_port

RELAYKIT = [sys.executable, "-m", "kernel.serve.cli"]
STRONG = "rk-a8F3kQ9zL2mX7vB4nC6d"
ECHO = {"model_list": [{"model_name": "echo/*", "litellm_params": {"model": "echo/*"}}]}
PING = {"model": "echo/x", "messages": [{"role": "user", "content": "ping"}]}


def env_without_master(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RELAYKIT_MASTER_KEY"}
    return {**env, **extra}


def run(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*RELAYKIT, *args], capture_output=True, text=True, timeout=60,
                          env=env or env_without_master())


def write_config(tmp_path, general: dict | None = None) -> str:
    path = tmp_path / f"config-{free_port()}.yaml"
    path.write_text(yaml.safe_dump({**ECHO, **({"general_settings": general} if general else {})}))
    return str(path)


class Started:
    """relaykit started in the background with exactly the given arguments (plus --port); waits for its
    `listening on` line and keeps it."""

    def __init__(self, args: list[str], env: dict | None = None) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([*RELAYKIT, *args, "--port", str(self.port)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env or env_without_master())
        self.listening = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if "listening on" in line:
                self.listening = line.strip()
                return
        self.proc.kill()
        raise RuntimeError(f"relaykit did not start: {self.proc.stderr.read()}")

    def stop(self) -> str:
        """Stop it; returns what it wrote to stderr."""
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=30)
        return err

    def __enter__(self) -> Started:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.stop()


def other_local_address() -> str | None:
    """A non-loopback address of this machine, if it has one (no packet is sent: UDP connect only routes)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


# -- a weak master key --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["sk-1234", "password", "CHANGEME", "sk-12345678", "fifteen-chars!!",
                                 "sk-passwordpassword", "sk-ChangeMeChangeMe", "sk-1111111111111111"])
def test_a_weak_master_key_refuses_to_start(tmp_path, key):
    out = run(["--config", write_config(tmp_path, {"master_key": key})])
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "relaykit: the configuration has errors:" in out.stderr
    (line,) = [ln for ln in out.stderr.splitlines() if "general_settings.master_key:" in ln]
    assert "too short" in line or "obvious" in line
    assert "--allow-weak-master-key" in line and "dangerously_permit_weak_or_unset_master_key: true" in line
    assert key not in out.stderr  # the message never repeats the key
    assert "listening on" not in out.stdout


def test_a_weak_key_from_the_environment_is_named_as_such():
    out = run([], env=env_without_master(RELAYKIT_MASTER_KEY="admin"))
    assert out.returncode == 2
    assert "<embedded default>: RELAYKIT_MASTER_KEY: the master key is too short (5 characters;" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_flag_lets_a_weak_key_start(tmp_path):
    with Started(["--config", write_config(tmp_path, {"master_key": "sk-1234"}), "--host", "127.0.0.1",
                  "--allow-weak-master-key"]) as gw:
        url = f"http://127.0.0.1:{gw.port}/v1/chat/completions"
        assert httpx.post(url, json=PING).status_code == 401
        assert httpx.post(url, json=PING, headers={"authorization": "Bearer sk-1234"}).status_code == 200


def test_litellms_setting_lets_a_weak_key_start(tmp_path):
    general = {"master_key": "sk-1234", "dangerously_permit_weak_or_unset_master_key": True}
    with Started(["--config", write_config(tmp_path, general), "--host", "127.0.0.1"]) as gw:
        reply = httpx.post(f"http://127.0.0.1:{gw.port}/v1/chat/completions", json=PING,
                           headers={"authorization": "Bearer sk-1234"})
        assert reply.status_code == 200
        err = gw.stop()
    assert "dangerously_permit_weak_or_unset_master_key" not in err  # a known key: no "not implemented" warning


def test_a_strong_key_starts_on_every_interface_by_default(tmp_path):
    with Started(["--config", write_config(tmp_path, {"master_key": STRONG})]) as gw:
        assert gw.listening == f"relaykit: listening on http://0.0.0.0:{gw.port}"
        reply = httpx.post(f"http://127.0.0.1:{gw.port}/v1/chat/completions", json=PING,
                           headers={"authorization": f"Bearer {STRONG}"})
        assert reply.status_code == 200


# -- no master key: loopback only unless --host ---------------------------------------------------------------


def test_no_master_key_listens_on_loopback_only_and_says_so():
    with Started([]) as gw:  # the embedded default: `relaykit` with no arguments but a free port
        assert gw.listening == f"relaykit: listening on http://127.0.0.1:{gw.port}"
        reply = httpx.post(f"http://127.0.0.1:{gw.port}/v1/chat/completions", json=PING)
        assert reply.status_code == 200
        assert reply.json()["choices"][0]["message"]["content"] == "ping"
        other = other_local_address()
        if other is not None:  # another interface of this machine: nothing listens there
            with pytest.raises(httpx.ConnectError):
                httpx.post(f"http://{other}:{gw.port}/v1/chat/completions", json=PING, timeout=5)
        err = gw.stop()
    assert "no master_key is set, so relaykit listens on 127.0.0.1 only" in err
    assert "--host" in err


def test_an_explicit_host_is_honoured_without_a_master_key(tmp_path):
    with Started(["--config", write_config(tmp_path), "--host", "0.0.0.0"]) as gw:
        assert gw.listening == f"relaykit: listening on http://0.0.0.0:{gw.port}"
        assert httpx.post(f"http://127.0.0.1:{gw.port}/v1/chat/completions", json=PING).status_code == 200
        other = other_local_address()
        if other is not None:
            assert httpx.post(f"http://{other}:{gw.port}/v1/chat/completions", json=PING).status_code == 200
        err = gw.stop()
    assert "no master_key is set: anyone who can reach this port can use it" in err
