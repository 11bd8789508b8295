"""Request logs: the call sink the config asks for, built once per gateway (a factory in middleware/spend/sinks.py).

One `RequestLogSink` per gateway turns each finished call into one JSON line (records.py) and hands it to every
outlet that wants that kind of call: JSON lines on stdout (`litellm_settings.json_logs: true`) and to a file
(`general_settings.request_log_file`) get every call; a webhook or a user's logger gets what its callback list
says (`callbacks`: all, `success_callback`: successes, `failure_callback`: failures). Outlets start with the
gateway and, at shutdown, send what they hold before the process exits.
"""

from __future__ import annotations

from typing import Any

from middleware.observe import lines, records
from middleware.observe.loggers import UserLogger, load_logger
from middleware.observe.webhook import Webhook
from middleware.spend.sinks import sink_factory

BOTH = frozenset({"success", "failure"})


class RequestLogSink:
    """Every finished call → one line → the outlets that want it. O(1) per outlet on the request path."""

    def __init__(self, outlets: list[tuple[Any, frozenset[str]]], settings) -> None:
        self.settings = settings
        self.outlets = outlets
        self.on_success = tuple(o for o, events in outlets if "success" in events)
        self.on_failure = tuple(o for o, events in outlets if "failure" in events)

    def start(self, call) -> None:
        pass

    def health(self) -> dict:
        """For readiness: each outlet's state; degraded when any is (logs are being lost or delayed)."""
        outlets = [o.health() for o, _ in self.outlets]
        state = "degraded" if any(o["state"] != "ok" for o in outlets) else "ok"
        return {"request_logs": {"state": state, "outlets": outlets}}

    def finish(self, call, record: dict[str, Any], reply) -> None:
        targets = self.on_success if record["status"] == "success" else self.on_failure
        if not targets:
            return
        line = records.line(call, record, reply, self.settings)
        for outlet in targets:
            outlet.add(line, call)


@sink_factory
def request_logs(gateway) -> list[RequestLogSink]:
    settings = gateway.settings.observe
    scrubber = gateway.scrubber
    outlets: list[tuple[Any, frozenset[str]]] = []
    if settings.json_logs:
        outlets.append((lines.LineWriter("stdout", lines.stdout_handler(), scrubber), BOTH))
    if settings.request_log_file:
        handler = lines.file_handler(settings.request_log_file, settings.request_log_max_bytes,
                                     settings.request_log_backup_count)
        outlets.append((lines.LineWriter("file", handler, scrubber), BOTH))
    for cb in settings.of_kind("webhook"):
        outlets.append((Webhook(cb.name, cb.settings, scrubber), cb.events))
    source = gateway.settings.source
    for cb in settings.of_kind("logger"):
        target = load_logger(cb.name, f"{source}: litellm_settings callbacks")
        outlets.append((UserLogger(cb.name, target, scrubber), cb.events))
    if not outlets:
        return []
    for outlet, _ in outlets:
        if hasattr(outlet, "start"):
            gateway.on_startup(outlet.start)
        gateway.on_shutdown(outlet.stop)
    return [RequestLogSink(outlets, settings)]
