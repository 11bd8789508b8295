"""The Prometheus metric families relaykit exports, under LiteLLM's documented names and label names.

Built once per gateway. In one process they live in the gateway's own registry (tests build many gateways in
one interpreter); under --num_workers prometheus-client's multiprocess mode keeps every value in a file of the
worker's own in PROMETHEUS_MULTIPROC_DIR, and a scrape on any worker sums them (multiproc.py).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Who called: never a raw key, only its SHA-256 (what the store keeps) and its alias. end_user stays empty, as
# LiteLLM leaves it unless asked: one series per end user would grow without bound.
KEY = ("end_user", "hashed_api_key", "api_key_alias", "team", "team_alias", "user")
DEPLOYMENT = ("requested_model", "litellm_model_name", "model_id", "api_base", "api_provider")
KEY_SHORT = ("hashed_api_key", "api_key_alias", "team", "team_alias")
ERROR = ("exception_status", "exception_class")
# Seconds; LLM calls run from milliseconds (a cache, an embedding) to minutes (a long generation).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)


class Families:
    """Every metric relaykit exports; docs/observability.md lists them with their labels."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = {"registry": registry}
        self.requests = Counter("litellm_requests_metric", "Calls per key and model group", [*KEY, "model", "route"], **r)
        self.proxy_total = Counter("litellm_proxy_total_requests_metric", "Calls answered, by HTTP status",
                                   [*KEY, "requested_model", "status_code", "route"], **r)
        self.proxy_failed = Counter("litellm_proxy_failed_requests_metric", "Calls that failed, by error",
                                    [*KEY, "requested_model", *ERROR, "route"], **r)
        self.dep_success = Counter("litellm_deployment_success_responses", "Successful upstream calls per deployment",
                                   [*DEPLOYMENT, *KEY_SHORT], **r)
        self.dep_failure = Counter("litellm_deployment_failure_responses", "Failed upstream calls per deployment",
                                   [*DEPLOYMENT, *KEY_SHORT, *ERROR], **r)
        self.dep_total = Counter("litellm_deployment_total_requests", "Upstream calls per deployment (success + failure)",
                                 [*DEPLOYMENT, *KEY_SHORT], **r)
        self.spend = Counter("litellm_spend_metric", "Spend in USD", [*KEY, "model"], **r)
        tokens = [*KEY, "requested_model", "model"]
        self.total_tokens = Counter("litellm_total_tokens", "Input + output tokens", tokens, **r)
        self.input_tokens = Counter("litellm_input_tokens", "Input (prompt) tokens", tokens, **r)
        self.output_tokens = Counter("litellm_output_tokens", "Output (completion) tokens", tokens, **r)
        self.cache_read_tokens = Counter("relaykit_cache_read_tokens", "Input tokens read from the provider's prompt "
                                         "cache", tokens, **r)
        self.cache_creation_tokens = Counter("relaykit_cache_creation_tokens", "Input tokens written to the "
                                             "provider's prompt cache", tokens, **r)
        b = {"buckets": LATENCY_BUCKETS, **r}
        self.latency = Histogram("litellm_request_total_latency_metric", "Seconds from arrival to the answer's end",
                                 tokens, **b)
        self.overhead = Histogram("litellm_overhead_latency_metric", "Seconds of a call not spent waiting on "
                                  "upstreams", tokens, **b)
        self.api_latency = Histogram("litellm_llm_api_latency_metric", "Seconds spent waiting on upstreams", tokens, **b)
        self.ttft = Histogram("litellm_llm_api_time_to_first_token_metric", "Seconds to a stream's first chunk",
                              ["model", *KEY_SHORT], **b)
        fallback = ["requested_model", "fallback_model", *KEY_SHORT, *ERROR]
        self.fallback_ok = Counter("litellm_deployment_successful_fallbacks", "Calls answered by a fallback group",
                                   fallback, **r)
        self.fallback_failed = Counter("litellm_deployment_failed_fallbacks", "Calls whose fallbacks failed too",
                                       fallback, **r)
        self.retries = Counter("relaykit_retries", "Retries of a model group", ["requested_model", *KEY_SHORT], **r)
        self.cooled_down = Counter("litellm_deployment_cooled_down", "Times a deployment was put in cooldown",
                                   ["litellm_model_name", "model_id", "api_base", "api_provider", "exception_status"],
                                   **r)
        # When each deployment's cooldown ends (unix time): litellm_deployment_state is computed from it at scrape
        # time, so an expired cooldown reads healthy without anyone writing; "max" over workers: any worker cooling.
        self.cooldown_until = Gauge("relaykit_deployment_cooldown_until_seconds", "When the deployment's latest "
                                    "cooldown ends (unix time)", ["model_id"], multiprocess_mode="max", **r)
        self.in_flight = Gauge("relaykit_in_flight_requests", "Calls in progress", ["route"],
                               multiprocess_mode="livesum", **r)
        self.refusals = Counter("relaykit_refusals", "Calls refused by relaykit's own rate limits and budgets",
                                ["reason", "requested_model", *KEY_SHORT], **r)
