"""Fields every translated (non-OpenAI) answer fills in the same way: the model it names and when it was made."""

from __future__ import annotations

import time

from kernel.call import Call


def created_at(call: Call) -> int:
    """Seconds since the epoch; a Call built outside the app (recorded fixtures, tools) has no arrival time and gets
    0, which keeps snapshot output reproducible."""
    return int(time.time()) if call.started else 0


def model_of(call: Call) -> str:
    """The model an answer names when the upstream's own reply does not: the deployment's upstream model."""
    return call.deployment.upstream_model if call.deployment is not None else (call.model or "")
