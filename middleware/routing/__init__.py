"""Routing: which deployment answers a call, retries and fallbacks, batches, per-request routers, client credentials.

The links (router, retry, fallback, batch, user_config, client_credentials) are imported here so they register;
what they share (context, state, policy, strategies, backoff, credentials) lives in modules that are not links.
"""

from middleware.routing import (  # noqa: F401  (imported for registration)
    batch,
    client_credentials,
    fallback,
    retry,
    router,
    user_config,
)
