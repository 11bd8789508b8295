"""Serving: the `relaykit` command (cli.py) and the HTTP protocol with relaykit's client limits (protocol.py)."""
