"""Router: pick the deployment that serves the requested model (weighted shuffle) and line up the rest."""

from __future__ import annotations

import random

from kernel.call import Call, Next, Reply
from kernel.errors import ClientError, UnknownModel
from kernel.models import Deployment
from kernel.registry import PROVIDERS, middleware


def supports(deployment: Deployment, endpoint: str) -> bool:
    endpoints = getattr(PROVIDERS.get(deployment.provider), "endpoints", None)
    return endpoints is None or endpoint in endpoints


def weighted_order(group: list[Deployment], rng: random.Random) -> list[Deployment]:
    """Order deployments by a weighted draw without replacement (weight, else rpm, else tpm, else equal)."""
    if len(group) == 1:
        return list(group)
    weights = [float(d.weight or d.rpm or d.tpm or 1) for d in group]
    pool = list(group)
    out = []
    while pool:
        pick = rng.choices(range(len(pool)), weights=weights)[0]
        out.append(pool.pop(pick))
        weights.pop(pick)
    return out


@middleware("router")
class Router:
    def __init__(self, options, gateway) -> None:
        self.models = gateway.models
        self.rng = random.Random()

    def group_for(self, call: Call) -> list[Deployment]:
        if call.model is None:
            # Endpoints where OpenAI makes `model` optional (moderations, images): the first deployment that serves it.
            group = [d for names in self.models.exact.values() for d in names if supports(d, call.endpoint)]
            if not group:
                raise UnknownModel(f"no configured model serves {call.endpoint}; name one with `model`", param="model")
            return group[:1]
        group = self.models.lookup(call.model)
        if not group:
            raise UnknownModel(
                f"model {call.model!r} is not served by this gateway; GET /v1/models lists the models it serves",
                param="model")
        usable = [d for d in group if supports(d, call.endpoint)]
        if not usable:
            raise ClientError(f"model {call.model!r} ({group[0].provider}) does not support {call.endpoint}",
                              param="model", code="unsupported_endpoint")
        return usable

    async def __call__(self, call: Call, next: Next) -> Reply:
        if call.deployment is None:
            ordered = weighted_order(self.group_for(call), self.rng)
            call.deployment = ordered[0]
            call.candidates = ordered[1:]
        return await next(call)
