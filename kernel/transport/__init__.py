"""The transport layer: how a prepared upstream request is sent and its answer received."""
