"""Routing strategies: each picks one deployment from a group already cleared of cooling ones.

A strategy is `choose(group, ctx, call) -> Deployment | None` (None: every deployment is at its limit).
Ties are broken with the router's own `random.Random`, seeded by `routing_strategy_args.seed` when given,
so a test can pin the sequence.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from kernel.models import Deployment
from middleware.routing.state import current_minute, state_key

if TYPE_CHECKING:
    from kernel.call import Call
    from middleware.routing.context import RoutingContext

Strategy = Callable[[list[Deployment], "RoutingContext", "Call"], Deployment | None]


def shuffle_weights(group: list[Deployment]) -> list[float] | None:
    """Weights from the first of `weight`, `rpm`, `tpm` that any deployment sets (None: all equal).

    A deployment that leaves it unset gets the group's mean, so one forgotten value neither starves nor floods it.
    """
    for attr in ("weight", "rpm", "tpm"):
        values = [getattr(d, attr) for d in group]
        given = [float(v) for v in values if v is not None]
        if given:
            fill = sum(given) / len(given)
            weights = [float(v) if v is not None else fill for v in values]
            return weights if sum(weights) > 0 else None
    return None


def simple_shuffle(group: list[Deployment], ctx: RoutingContext, call: Call) -> Deployment:
    weights = shuffle_weights(group)
    if weights is None:
        return group[ctx.rng.randrange(len(group))]
    return ctx.rng.choices(group, weights=weights)[0]


def _lowest(group: list[Deployment], ctx: RoutingContext, score: Callable[[Deployment], float],
            buffer: float = 0.0) -> Deployment:
    scores = [score(d) for d in group]
    best = min(scores)
    limit = best + abs(best) * buffer if math.isfinite(best) else best
    ties = [d for d, s in zip(group, scores, strict=True) if s <= limit]
    return ties[0] if len(ties) == 1 else ties[ctx.rng.randrange(len(ties))]


def least_busy(group: list[Deployment], ctx: RoutingContext, call: Call) -> Deployment:
    stats = ctx.state.stats
    return _lowest(group, ctx, lambda d: stats[k].in_flight if (k := state_key(d)) in stats else 0)


def lowest_latency(group: list[Deployment], ctx: RoutingContext, call: Call) -> Deployment:
    # An untried deployment scores 0, so each is measured once before the fastest takes the traffic.
    stats = ctx.state.stats
    buffer = float(ctx.settings.routing_strategy_args.get("lowest_latency_buffer", 0) or 0)
    return _lowest(group, ctx, lambda d: stats[k].mean_latency() if (k := state_key(d)) in stats else 0.0, buffer)


def estimate_tokens(call: Call) -> int:
    """A cheap guess at the prompt's tokens (about four bytes each), for tpm headroom before the call."""
    return len(call.raw) // 4 if call.raw else 0


def usage_based(group: list[Deployment], ctx: RoutingContext, call: Call) -> Deployment | None:
    """The deployment with the most tpm headroom this minute among those under their rpm and tpm limits."""
    minute = current_minute()
    need = estimate_tokens(call)
    open_ = []
    for d in group:
        s = ctx.state.of(state_key(d)).usage(minute)
        if d.rpm is not None and s.rpm_used >= d.rpm:
            continue
        if d.tpm is not None and s.tpm_used + need > d.tpm:
            continue
        open_.append(d)
    if not open_:
        return None
    stats = ctx.state.stats
    return _lowest(open_, ctx, lambda d: stats[state_key(d)].tpm_used)


def cost_of(d: Deployment) -> float:
    """Price per input + output token from model_info; an unpriced deployment is tried last."""
    info = d.model_info
    try:
        cost = float(info.get("input_cost_per_token", math.nan)) + float(info.get("output_cost_per_token", 0) or 0)
    except (TypeError, ValueError):
        return math.inf
    return math.inf if math.isnan(cost) else cost


def lowest_cost(group: list[Deployment], ctx: RoutingContext, call: Call) -> Deployment:
    return _lowest(group, ctx, cost_of)


STRATEGIES: dict[str, Strategy] = {
    "simple-shuffle": simple_shuffle,
    "least-busy": least_busy,
    "latency-based-routing": lowest_latency,
    "usage-based-routing": usage_based,
    "usage-based-routing-v2": usage_based,
    "cost-based-routing": lowest_cost,
}
