"""relaykit's microkernel: the Call, chains of middlewares, registries, config, the ASGI adapter and the CLI."""
