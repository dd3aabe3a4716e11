"""Who the client of a request is, behind the reverse proxies the deployment trusts."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

from litestar import Request


class TrustedProxies:
    """The networks whose X-Forwarded-For is believed (TRUSTED_PROXIES)."""

    def __init__(self, networks: tuple[IPv4Network | IPv6Network, ...]) -> None:
        self.networks = networks

    def trusts(self, address: str) -> bool:
        try:
            ip = ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client_of(self, request: Request[Any, Any, Any]) -> str:
        """The peer's address, or, when the peer is a trusted proxy, the nearest address in
        X-Forwarded-For that is not one (a client can write anything into that header; only
        what our own proxies appended is believed)."""
        peer = request.client.host if request.client else "unknown"
        if not self.trusts(peer):
            return peer
        forwarded = [a.strip() for a in request.headers.get("x-forwarded-for", "").split(",")]
        for address in reversed([a for a in forwarded if a]):
            if not self.trusts(address):
                return address
        return peer
