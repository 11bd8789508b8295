"""Built-in middlewares; importing this package registers each under its pipelines.yaml name."""

from middleware import (  # noqa: F401  (imported for registration)
    auth,
    batch,
    client_credentials,
    decode,
    encode,
    fallback,
    forward,
    governance,
    info,
    normalize,
    param_drop,
    provider_call,
    retry,
    router,
    user_config,
)
