"""The metrics sink: each finished call's record → counters and histograms, with O(1) work per call.

The children of the metrics one call touches are looked up once per label combination and cached (a dict hit per
call afterwards); failures, retries and fallbacks take the slower `.labels()` path, being the rarer ones.
"""

from __future__ import annotations

import time
from typing import Any

from middleware.observe import multiproc
from middleware.observe.families import Families

RETRIES_HEADER = "x-relaykit-attempted-retries"  # set by middleware/routing/retry.py and fallback.py
FALLBACKS_HEADER = "x-relaykit-attempted-fallbacks"
REFUSALS = {"rate_limit_error": "rate_limit", "budget_exceeded": "budget"}
# The HTTP status of a failure no upstream answered (a refusal, a client that hung up): its error type's.
STATUS_OF_TYPE = {"rate_limit_error": 429, "budget_exceeded": 429, "authentication_error": 401,
                  "permission_error": 403, "not_found_error": 404, "invalid_request_error": 400,
                  "timeout_error": 408, "server_error": 503, "cancelled": 499}
MAX_CACHED = 10_000  # label combinations kept; past it the cache starts again (the metrics keep their series)


class MetricsSink:
    def __init__(self, families: Families, deployments: dict[str, Any], routing) -> None:
        self.m = families
        self.deployments = deployments  # id → Deployment, for the labels of a failed attempt's deployment
        self.routing = routing
        self.children: dict[tuple, tuple] = {}
        self.flights: dict[str, Any] = {}
        self.cooling_seen: dict[str, float] = {}  # model id → the cooldown end already counted

    def health(self) -> dict:
        """For readiness: metrics are on (a scrape reads memory, or with workers the multiprocess directory)."""
        return {"metrics": {"state": "on", "multiprocess": multiproc.enabled()}}

    def start(self, call) -> None:
        child = self.flights.get(call.route)
        if child is None:
            child = self.flights[call.route] = self.m.in_flight.labels(call.route)
        child.inc()

    def finish(self, call, record: dict[str, Any], reply) -> None:
        flight = self.flights.get(call.route)
        if flight is not None:  # None: this sink registered while the call was under way
            flight.dec()
        m = self.m
        caller = call.caller
        team = caller.team if caller is not None else None
        team_alias = (team.team_alias or "") if team is not None else ""
        key = (record["api_key"], record["key_alias"] or "", record["team_id"] or "", team_alias,
               record["user_id"] or "")
        body = call.body
        asked = body.get("model") if isinstance(body, dict) else None
        group = record["model_group"] or ""
        requested = asked if isinstance(asked, str) else group
        ok = record["status"] == "success"
        error = record["error_type"]
        attempts = call.attempts
        if ok:
            status = str(reply.status) if reply is not None else "200"
        elif attempts and call.deployment is not None:  # the upstream's failure: its status and error class
            status, error = str(attempts[-1].status or 500), attempts[-1].error
        else:
            status = str(STATUS_OF_TYPE.get(error, 500))
        d = call.deployment
        ids = (d.upstream_model, d.id, d.api_base or "", d.provider) if d is not None else None
        cache_key = (key, requested, group, ids, call.route, status)
        kids = self.children.get(cache_key)
        if kids is None:
            kids = self._children(cache_key)
        (requests, proxy_total, spend, total_tokens, input_tokens, output_tokens, cache_read, cache_creation,
         latency, overhead, api_latency, ttft, dep_ok, dep_total) = kids
        requests.inc()
        proxy_total.inc()
        latency_s = record["latency_ms"] / 1000
        latency.observe(latency_s)
        upstream_s = call.upstream_s
        overhead.observe(max(0.0, latency_s - upstream_s))
        if upstream_s:
            api_latency.observe(upstream_s)
        if record["ttft_ms"] is not None:
            ttft.observe(record["ttft_ms"] / 1000)
        if record["spend"]:
            spend.inc(record["spend"])
        if record["total_tokens"]:
            total_tokens.inc(record["total_tokens"])
            input_tokens.inc(record["prompt_tokens"])
            output_tokens.inc(record["completion_tokens"])
            if record["cache_read_tokens"]:
                cache_read.inc(record["cache_read_tokens"])
            if record["cache_creation_tokens"]:
                cache_creation.inc(record["cache_creation_tokens"])
        if ok and dep_ok is not None:
            dep_ok.inc()
            dep_total.inc()
        if not ok:
            m.proxy_failed.labels("", *key, requested, status, error or "", call.route).inc()
            reason = REFUSALS.get(record["error_type"]) if not attempts else None
            if reason is not None:
                m.refusals.labels(reason, requested, *key[:4]).inc()
        if attempts:
            self._attempts(call, attempts, key, requested)
        headers = call.reply_headers
        if headers:
            retries = headers.get(RETRIES_HEADER)
            if retries:
                m.retries.labels(requested, *key[:4]).inc(int(retries))
            if headers.get(FALLBACKS_HEADER, "0") != "0":
                first = attempts[0] if attempts else None
                reason = (str(first.status), first.error or "") if first is not None else ("", "")
                family = m.fallback_ok if ok else m.fallback_failed
                family.labels(requested, group, *key[:4], *reason).inc()

    def _children(self, cache_key: tuple) -> tuple:
        key, requested, group, ids, route, status = cache_key
        m = self.m
        user = ("", *key)
        tokens = (*user, requested, ids[0] if ids else "")
        short = (ids[0] if ids else "", *key[:4])
        if ids is not None:
            dep = (requested, *ids, *key[:4])
            dep_ok, dep_total = m.dep_success.labels(*dep), m.dep_total.labels(*dep)
        else:
            dep_ok = dep_total = None
        kids = (m.requests.labels(*user, group, route), m.proxy_total.labels(*user, requested, status, route),
                m.spend.labels(*user, group), m.total_tokens.labels(*tokens), m.input_tokens.labels(*tokens),
                m.output_tokens.labels(*tokens), m.cache_read_tokens.labels(*tokens),
                m.cache_creation_tokens.labels(*tokens), m.latency.labels(*tokens), m.overhead.labels(*tokens),
                m.api_latency.labels(*tokens), m.ttft.labels(*short), dep_ok, dep_total)
        if len(self.children) >= MAX_CACHED:
            self.children.clear()
        self.children[cache_key] = kids
        return kids

    def _attempts(self, call, attempts, key: tuple, requested: str) -> None:
        """Each failed upstream try: a failure of its deployment, and a cooldown if it caused one."""
        m = self.m
        for a in attempts:
            d = self.deployments.get(a.deployment)
            if d is None:
                continue  # a user_config deployment: not one of the gateway's
            labels = (requested, d.upstream_model, d.id, d.api_base or "", d.provider, *key[:4])
            m.dep_failure.labels(*labels, str(a.status), a.error or "").inc()
            m.dep_total.labels(*labels).inc()
        cooling = self.routing.state.cooling
        if not cooling:
            return
        now = time.monotonic()
        wall = time.time()
        last = attempts[-1]
        for state_key, until in list(cooling.items()):
            model_id = state_key.split("\x00", 1)[0]
            if until <= now or self.cooling_seen.get(model_id) == until:
                continue
            self.cooling_seen[model_id] = until
            d = self.deployments.get(model_id)
            if d is None:
                continue
            status = next((str(a.status) for a in reversed(attempts) if a.deployment == model_id), str(last.status))
            m.cooled_down.labels(d.upstream_model, d.id, d.api_base or "", d.provider, status).inc()
            m.cooldown_until.labels(d.id).set(wall + (until - now))
