"""Built-in middlewares; importing this package registers each under its pipelines.yaml name."""

from middleware import (  # noqa: F401  (imported for registration)
    auth,
    decode,
    encode,
    forward,
    governance,
    info,
    limits,
    normalize,
    observe,
    param_drop,
    provider_call,
    readiness,
    routing,
    spend,
)
