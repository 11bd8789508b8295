"""The `relaykit` command as a user runs it: a real process, its output, its exit codes and its shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
import yaml

from tests.servers import free_port

RELAYKIT = [sys.executable, "-m", "kernel.serve.cli"]


def run(args, env=None, timeout=30):
    return subprocess.run([*RELAYKIT, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


class Running:
    """A relaykit process started in the background; waits until it prints that it is listening."""

    def __init__(self, args, env=None):
        self.port = free_port()
        self.proc = subprocess.Popen([*RELAYKIT, *args, "--host", "127.0.0.1", "--port", str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        self.lines: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip())
            if "listening on" in line:
                return
        self.proc.kill()
        raise RuntimeError(f"relaykit did not start: {self.lines} {self.proc.stderr.read()}")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig=signal.SIGTERM, timeout=30) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def test_bad_config_exits_2_listing_every_problem_without_traceback(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"model_list": [
        {"model_name": "a", "litellm_params": {"model": "gpt4"}},
        {"model_name": "b", "litellm_params": {"model": "openai/x", "api_key": "os.environ/RK_CLI_UNSET_VAR"}},
    ]}))
    out = run(["--config", str(path)])
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert f"{path}: model_list[1].litellm_params.api_key: environment variable RK_CLI_UNSET_VAR is not set" in out.stderr
    assert f'{path}: model_list[0].litellm_params.model: expected "provider/name", got "gpt4"' in out.stderr


def test_bad_pipelines_file_exits_2(tmp_path):
    path = tmp_path / "pipelines.yaml"
    path.write_text("pipelines: {}\n")
    out = run(["--pipelines", str(path)])
    assert out.returncode == 2
    assert f"{path}: pipelines: " in out.stderr
    assert "Traceback" not in out.stderr


def test_default_start_serves_echo_and_sigterm_exits_0():
    server = Running([])
    try:
        assert any("echo/*" in line for line in server.lines)
        reply = httpx.post(server.url + "/v1/chat/completions",
                           json={"model": "echo/hello", "messages": [{"role": "user", "content": "ping pong"}]})
        assert reply.status_code == 200
        assert reply.json()["choices"][0]["message"]["content"] == "ping pong"
    finally:
        code = server.stop()
    assert code == 0
    assert "no master_key is set" in server.proc.stderr.read()


def test_sigterm_lets_in_flight_requests_finish(fake_openai, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"model_list": [{"model_name": "slow", "litellm_params": {
        "model": "openai/slow-1.0", "api_base": fake_openai.url + "/v1", "api_key": "sk-x"}}]}))
    server = Running(["--config", str(path)])
    result = {}

    def request():
        result["reply"] = httpx.post(server.url + "/v1/chat/completions", timeout=20,
                                     json={"model": "slow", "messages": [{"role": "user", "content": "hi"}]})

    worker = threading.Thread(target=request)
    worker.start()
    deadline = time.monotonic() + 10
    while not fake_openai.requests and time.monotonic() < deadline:
        time.sleep(0.01)  # wait until the request is in flight upstream
    assert fake_openai.requests, "the request never reached the upstream"
    code = server.stop()
    worker.join(timeout=20)
    assert code == 0
    assert result["reply"].status_code == 200
    assert result["reply"].json()["choices"][0]["message"]["content"] == "slow answer"


def test_model_flag_serves_any_model_name(fake_openai):
    server = Running(["--model", "openai/gpt-4o"], env={"OPENAI_API_BASE": fake_openai.url + "/v1",
                                                        "OPENAI_API_KEY": "sk-quick"})
    try:
        reply = httpx.post(server.url + "/chat/completions",
                           json={"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]})
        assert reply.status_code == 200
        assert fake_openai.requests[-1]["body"]["model"] == "gpt-4o"
        assert fake_openai.requests[-1]["headers"]["authorization"] == "Bearer sk-quick"
        models = httpx.get(server.url + "/v1/models").json()["data"]
        assert models[0]["id"] == "openai/gpt-4o"
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("flag", ["--help"])
def test_help_lists_the_documented_flags(flag):
    out = run([flag])
    assert out.returncode == 0
    for name in ("--config", "--pipelines", "--host", "--port", "--num_workers", "--model", "--drop_params",
                 "--detailed_debug"):
        assert name in out.stdout


def test_num_workers_serves_from_several_processes_and_stops_cleanly():
    server = Running(["--num_workers", "2"])
    try:
        deadline = time.monotonic() + 20
        while True:  # the workers bind after the supervisor has announced the port
            try:
                reply = httpx.post(server.url + "/v1/embeddings", json={"model": "echo/e", "input": "same text"})
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert reply.status_code == 200
        again = httpx.post(server.url + "/v1/embeddings", json={"model": "echo/e", "input": "same text"})
        assert again.json()["data"][0]["embedding"] == reply.json()["data"][0]["embedding"]  # deterministic everywhere
    finally:
        code = server.stop()
    assert code == 0
