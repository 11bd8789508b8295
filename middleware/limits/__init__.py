"""Rate limits for virtual keys: rpm, tpm, max_parallel_requests and per-model limits (the `rate_limit` link).

Importing the package registers the link. The rules (which counters a caller has), the limiter (the counters,
behind an interface a Redis backend can replace) and the refusal (429 with OpenAI's x-ratelimit-* headers) are
modules of their own.
"""

from middleware.limits import link  # noqa: F401  (imported for registration)
