"""Routing: which deployment answers a call, and what the gateway remembers about each (cooldowns, load, usage)."""

from kernel.routing.context import ROUTING_KEY, NoDeploymentsAvailable, RoutingContext, routing_of

__all__ = ["ROUTING_KEY", "NoDeploymentsAvailable", "RoutingContext", "routing_of"]
