"""UpstreamRequest's old home, kept so providers can go on importing it from here (it lives in kernel/transport/)."""

from kernel.transport.request import UpstreamRequest

__all__ = ["UpstreamRequest"]
