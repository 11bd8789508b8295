"""The `relaykit` command: validate config and pipelines, then serve them with uvicorn (uvloop, httptools)."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import signal
import sys

import attrs

from kernel import registry
from kernel.app import App
from kernel.config import Settings, load_config
from kernel.errors import ConfigError
from kernel.guards.secrets import install_log_filter
from kernel.pipeline import load_pipelines
from kernel.state import Gateway
from kernel.store import default_data_dir

log = logging.getLogger("relaykit")
_ARGS_ENV = "RELAYKIT_CLI_ARGS"  # how --num_workers hands the parsed arguments to each worker process


def embedded_config() -> dict:
    """What plain `relaykit` serves: the offline `echo/*` models, plus `openai/*` when OPENAI_API_KEY is set."""
    models = [{"model_name": "echo/*", "litellm_params": {"model": "echo/*"}}]
    if os.environ.get("OPENAI_API_KEY"):
        models.append({"model_name": "openai/*", "litellm_params": {"model": "openai/*"}})
    return {"model_list": models}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="relaykit", description="An OpenAI-compatible LLM gateway.",
                                epilog="Against a running relaykit: `relaykit keys create|list|revoke` and "
                                       "`relaykit spend` (each with --help).")
    p.add_argument("--config", "-c", help="a LiteLLM-style config.yaml (default: the embedded echo config)")
    p.add_argument("--pipelines", help="a pipelines file replacing the built-in pipelines.yaml")
    p.add_argument("--host", default=None,
                   help="address to listen on (default: 0.0.0.0 with a master key, 127.0.0.1 without one)")
    p.add_argument("--port", type=int, default=4000)
    p.add_argument("--num_workers", "--num-workers", type=int, default=1)
    p.add_argument("--model", help="serve one model for every request, e.g. openai/gpt-4o (like `litellm --model`)")
    p.add_argument("--drop_params", "--drop-params", action="store_true", help="drop parameters a provider does not support")
    p.add_argument("--data-dir", "--data_dir", dest="data_dir",
                   help="where the embedded SQLite store lives (default: .relaykit/ next to the config file)")
    p.add_argument("--detailed_debug", "--detailed-debug", action="store_true", help="debug logs and access logs")
    p.add_argument("--allow-weak-master-key", "--allow_weak_master_key", action="store_true",
                   help="start even with a master key under 16 characters or an obvious one like sk-1234")
    limits = p.add_argument_group("limits on clients, per process (see docs/limits.md)")
    limits.add_argument("--header_timeout", "--header-timeout", type=_positive, default=10.0, metavar="S",
                        help="seconds a request head may take to arrive, from connect or the previous answer (10)")
    limits.add_argument("--body_timeout", "--body-timeout", type=_positive, default=60.0, metavar="S",
                        help="seconds the whole request body may take to arrive; then 408 (60)")
    limits.add_argument("--max_header_size_kb", "--max-header-size-kb", type=_positive, default=64.0, metavar="KB",
                        help="largest request head (request line and headers); over it 431 (64)")
    limits.add_argument("--max_connections", "--max-connections", type=_count, default=0, metavar="N",
                        help="client connections per process; past it 503 (default: half the open-file limit)")
    limits.add_argument("--keepalive_timeout", "--keepalive-timeout", type=_positive, default=5.0, metavar="S",
                        help="seconds an idle keep-alive connection is kept open (5)")
    limits.add_argument("--graceful_timeout", "--graceful-timeout", type=_positive, default=10.0, metavar="S",
                        help="on SIGTERM, seconds calls in flight may take before they are cancelled (10)")
    return p


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def limits_from(args: argparse.Namespace):
    """The server limits the flags ask for (kernel/serve/protocol.py)."""
    from kernel.serve.protocol import Limits

    return Limits(header_timeout=args.header_timeout, body_timeout=args.body_timeout,
                  max_header_bytes=int(args.max_header_size_kb * 1024), max_connections=args.max_connections,
                  keepalive_timeout=args.keepalive_timeout, graceful_timeout=args.graceful_timeout)


def quick_start_models(model: str) -> list[dict]:
    # `litellm --model X` answers every model name with X; the exact name is listed first so /v1/models shows it.
    return [{"model_name": model, "litellm_params": {"model": model}},
            {"model_name": "*", "litellm_params": {"model": model}}]


def build(args: argparse.Namespace) -> tuple[Settings, App]:
    """Everything a process serves, validated; raises ConfigError with every problem found."""
    registry.load_plugins()
    extra = quick_start_models(args.model) if args.model else None
    embedded = (lambda: {"model_list": []}) if args.model else embedded_config
    settings = load_config(args.config, embedded=embedded, drop_params=args.drop_params,
                           debug=args.detailed_debug, extra_deployments=extra,
                           allow_weak_master_key=getattr(args, "allow_weak_master_key", False))
    data_dir = getattr(args, "data_dir", None) or default_data_dir(args.config)
    settings = attrs.evolve(settings, data_dir=os.path.abspath(data_dir))
    gateway = Gateway(settings)
    pipelines = load_pipelines(args.pipelines, gateway)
    return settings, App(gateway, pipelines)


def worker_app() -> App:
    """Factory uvicorn calls in each worker process of `--num_workers N`."""
    args = argparse.Namespace(**json.loads(os.environ[_ARGS_ENV]))
    _, app = build(args)
    install_log_filter(app.gateway.scrubber)  # this process's logging was just set up by uvicorn
    gc.freeze()
    return app


def listen_host(settings: Settings, args: argparse.Namespace) -> str:
    """--host as given; else every interface when a master key guards the gateway, loopback when none does."""
    if args.host is not None:
        return args.host
    return "0.0.0.0" if settings.general.master_key else "127.0.0.1"


def report(settings: Settings, args: argparse.Namespace) -> None:
    for line in settings.warnings:
        print(f"relaykit: warning: {line}", file=sys.stderr)
    if not settings.general.master_key and args.host is None:
        print("relaykit: no master_key is set, so relaykit listens on 127.0.0.1 only; set "
              "general_settings.master_key (or RELAYKIT_MASTER_KEY) to serve other hosts, or pass --host "
              "to choose the address yourself", file=sys.stderr)
    elif not settings.general.master_key:
        print("relaykit: warning: no master_key is set: anyone who can reach this port can use it "
              "(set general_settings.master_key or RELAYKIT_MASTER_KEY)", file=sys.stderr)
    names = sorted({d.model_name for d in settings.deployments})
    print(f"relaykit: serving {len(names)} model name(s) from {settings.source}: {', '.join(names) or '(none)'}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["import-litellm"]:
        from kernel.serve.import_litellm import main as import_litellm

        return import_litellm(argv[1:])
    if argv and argv[0] in ("keys", "spend"):  # the client commands (kernel/serve/admin_cli.py), not the server
        from kernel.serve import admin_cli

        return admin_cli.main(argv)
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.detailed_debug else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings, app = build(args)
    except ConfigError as err:
        print("relaykit: the configuration has errors:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    if settings.debug:
        logging.getLogger().setLevel(logging.DEBUG)
    install_log_filter(app.gateway.scrubber)
    report(settings, args)
    args.host = listen_host(settings, args)
    return serve(app, args)


def serve(app: App, args: argparse.Namespace) -> int:
    import uvicorn

    from kernel.serve import protocol as http_server

    http_server.raise_open_file_limit()  # before the limits are resolved: the connection cap is derived from it
    options = http_server.uvicorn_options(limits_from(args), host=args.host, port=args.port, debug=args.detailed_debug)
    if args.num_workers > 1:
        os.environ[_ARGS_ENV] = json.dumps(vars(args))
        for prepare in app.gateway.shared.get("before_workers", ()):  # e.g. the metrics' multiprocess directory
            prepare()
        print(f"relaykit: listening on http://{args.host}:{args.port} with {args.num_workers} workers", flush=True)
        uvicorn.run("kernel.serve.cli:worker_app", factory=True, workers=args.num_workers, **options)
        return 0
    server = _AnnouncingServer(uvicorn.Config(app, **options))
    install_log_filter(app.gateway.scrubber)  # again: uvicorn.Config has just replaced its loggers' handlers
    # uvicorn drains in-flight requests on SIGTERM/SIGINT, then re-raises the signal to the handler that was
    # in place before it; make that handler a clean exit so a graceful stop ends with status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    gc.freeze()  # everything built so far lives for the process: keep it out of the collector's scans
    server.run()
    return 0 if server.started else 1


def _exit_cleanly(signum, frame) -> None:
    raise SystemExit(0)


def _announcing_server_class():
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started:
                host, port = self.config.host, self.config.port
                for server in getattr(self, "servers", []):
                    for sock in server.sockets:
                        host, port = sock.getsockname()[:2]
                        break
                print(f"relaykit: listening on http://{host}:{port}", flush=True)

    return AnnouncingServer


def _AnnouncingServer(config):
    return _announcing_server_class()(config)


if __name__ == "__main__":
    sys.exit(main())
