"""Where the store lives as the `relaykit` command runs it: `.relaykit/` in the working directory with no config,
next to the config file with one, `--data-dir` to move it; no master key, no store; a corrupt file stops start-up
with a message naming it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import yaml

from tests.servers import free_port

MASTER = "sk-keys-cli-master-4e8b2a61c3"


class Relaykit:
    """A relaykit process in `cwd`, with RELAYKIT_MASTER_KEY set when `master` is given."""

    def __init__(self, cwd, args=(), master: str | None = MASTER) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("RELAYKIT_MASTER_KEY", "DATABASE_URL")}
        if master:
            env["RELAYKIT_MASTER_KEY"] = master
        env["PYTHONPATH"] = os.getcwd()  # this tree, whatever the cwd
        self.proc = subprocess.Popen([sys.executable, "-m", "kernel.serve.cli", *args, "--host", "127.0.0.1",
                                      "--port", str(self.port)], cwd=cwd, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def wait_listening(self) -> Relaykit:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if "listening on" in line:
                return self
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError(f"relaykit did not start: {self.proc.stderr.read()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Relaykit:
        return self.wait_listening()

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def generate(url: str) -> httpx.Response:
    return httpx.post(url + "/key/generate", headers={"authorization": f"Bearer {MASTER}"}, json={}, timeout=30)


def test_with_no_config_the_store_is_in_dot_relaykit_of_the_working_directory(tmp_path):
    with Relaykit(tmp_path) as rk:
        key = generate(rk.url).json()["key"]
        reply = httpx.post(rk.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                           json={"model": "echo/x", "messages": [{"role": "user", "content": "hi"}]})
        assert reply.status_code == 200
    assert (tmp_path / ".relaykit" / "relaykit.db").is_file()


def test_keys_survive_a_restart_and_the_store_sits_next_to_the_config(tmp_path):
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (conf_dir / "config.yaml").write_text(yaml.safe_dump({"model_list": [
        {"model_name": "echo/*", "litellm_params": {"model": "echo/*"}}]}))
    args = ["--config", str(conf_dir / "config.yaml")]
    with Relaykit(tmp_path, args) as rk:
        key = generate(rk.url).json()["key"]
    assert (conf_dir / ".relaykit" / "relaykit.db").is_file() and not (tmp_path / ".relaykit").exists()
    with Relaykit(tmp_path, args) as rk:
        reply = httpx.post(rk.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                           json={"model": "echo/x", "messages": [{"role": "user", "content": "hi"}]})
        assert reply.status_code == 200


def test_data_dir_moves_the_store(tmp_path):
    with Relaykit(tmp_path, ["--data-dir", str(tmp_path / "elsewhere")]) as rk:
        assert generate(rk.url).status_code == 200
    assert (tmp_path / "elsewhere" / "relaykit.db").is_file() and not (tmp_path / ".relaykit").exists()


def test_without_a_master_key_there_is_no_key_management_and_no_store(tmp_path):
    with Relaykit(tmp_path, master=None) as rk:
        reply = generate(rk.url)
        assert reply.status_code == 403 and reply.json()["error"]["code"] == "master_key_required"
        open_call = httpx.post(rk.url + "/v1/chat/completions", headers={"authorization": "Bearer anything"},
                               json={"model": "echo/x", "messages": [{"role": "user", "content": "hi"}]})
        assert open_call.status_code == 200  # as before: the gateway is open
    assert not (tmp_path / ".relaykit").exists()


def test_a_corrupt_store_stops_start_up_naming_the_file(tmp_path):
    (tmp_path / ".relaykit").mkdir()
    db = tmp_path / ".relaykit" / "relaykit.db"
    db.write_bytes(b"not a database " * 200)
    rk = Relaykit(tmp_path)
    try:
        _, err = rk.proc.communicate(timeout=30)
    finally:
        rk.proc.kill()
    assert rk.proc.returncode != 0
    assert f"the SQLite database {db} is corrupt or not a SQLite database" in err
    assert "Traceback" not in err
