"""Where a run's result may be POSTed (its `callback_url`): declared once, checked by the API when
the run is submitted (422) and again by the deliverer just before it connects.

A callback makes the engine open a connection chosen by whoever submits a run; left unchecked, it
reaches the host's own services, the cloud metadata endpoint or the private network (Judge0's
CVE-2024-29021). So by default only public unicast addresses are allowed: private, loopback,
link-local, multicast, reserved and unspecified ones are refused, in IPv4 and IPv6, including an
IPv4 address wrapped in IPv6 (mapped, 6to4, Teredo, NAT64) and the numeric spellings that
resolvers accept (`2130706433`, `0x7f000001`, `0177.1`). `CALLBACK_ALLOW` opens chosen networks
(CIDR) or endpoints (host:port). Pure functions: the deliverer does the resolving.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from msgspec import Meta

from config import Settings, SettingsError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = {"http": 80, "https": 443}
MAX_URL_BYTES = 2048
_DECIMAL = frozenset("0123456789")
_OCTAL = frozenset("01234567")
_HEX = frozenset("0123456789abcdef")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class CallbackRefused(ValueError):
    """The callback URL is not allowed."""


@dataclass(frozen=True)
class Target:
    """A callback URL taken apart: where to connect, and what to say in the request line."""

    scheme: str
    host: str  # lower case; an IP address in its canonical spelling, IPv6 without brackets
    port: int
    path: str  # path and query, as given ("/" when empty)
    address: Address | None  # when the host is an IP address (in any spelling)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == SCHEMES[self.scheme] else f"{host}:{self.port}"


@dataclass(frozen=True)
class AllowList:
    """Networks any port of which is allowed, and single endpoints (address or name, port)."""

    networks: tuple[Network, ...] = ()
    endpoints: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """`10.0.0.0/8, 127.0.0.1:8080, [::1]:9000, hooks.internal:443`; ValueError if bad."""
        networks: list[Network] = []
        endpoints: set[tuple[str, int]] = set()
        for raw in text.split(","):
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            host, sep, port_text = entry.rpartition(":")
            if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536 or not host:
                raise ValueError(f"{entry!r} is neither a network (CIDR) nor host:port")
            host = host.lower()
            if host.startswith("[") and host.endswith("]"):
                host = host[1:-1]
            address = ip_literal(host)
            endpoints.add((str(address) if address is not None else host, int(port_text)))
        return cls(tuple(networks), frozenset(endpoints))

    def allows(self, address: Address, port: int) -> bool:
        candidates = {address, *embedded_ipv4(address)}
        return any(a in net for a in candidates for net in self.networks) or any(
            (str(a), port) in self.endpoints for a in candidates
        )

    def allows_name(self, host: str, port: int) -> bool:
        """An operator trusts this name wherever it resolves (a name entry of the list)."""
        return (host, port) in self.endpoints


class CallbackPolicy(Settings, frozen=True, kw_only=True):
    """Which callback destinations are allowed besides public addresses."""

    callback_allow: Annotated[
        str,
        Meta(
            description="comma-separated networks (CIDR) or host:port endpoints that callbacks may "
            "reach although private, loopback or otherwise refused; empty: public addresses only"
        ),
    ] = ""

    def check(self) -> None:
        self.allow_list()

    def allow_list(self) -> AllowList:
        try:
            return AllowList.parse(self.callback_allow)
        except ValueError as exc:
            raise SettingsError("CALLBACK_ALLOW", self.callback_allow, str(exc)) from None


def parse_ipv4_spelling(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address in any spelling inet_aton and URL parsers accept (1 to 4 parts, each
    decimal, octal with a leading 0 or hex with 0x; the last fills the remaining bytes), or None
    for a name. A name whose last label is a number is refused: resolvers disagree about it."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # a trailing dot
    numbers = [_number(p) for p in parts]
    if numbers[-1] is None:
        return None
    if len(parts) > 4 or any(n is None for n in numbers):
        raise CallbackRefused(f"host {host!r} looks like an IP address but is not one")
    values = [n for n in numbers if n is not None]
    *leading, last = values
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(values)):
        raise CallbackRefused(f"host {host!r} is an IP address out of range")
    value = last
    for index, part in enumerate(leading):
        value += part << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _number(part: str) -> int | None:
    """A part of a numeric IPv4 spelling, or None (digits only: int() would take signs and _)."""
    lowered = part.lower()
    if lowered.startswith("0x"):
        digits = lowered[2:]
        return int(digits or "0", 16) if set(digits) <= _HEX else None
    if len(lowered) > 1 and lowered.startswith("0"):
        return int(lowered[1:], 8) if set(lowered[1:]) <= _OCTAL else None
    return int(lowered) if lowered and set(lowered) <= _DECIMAL else None


def ip_literal(host: str) -> Address | None:
    """The address `host` spells (IPv6 without brackets, IPv4 in any numeric spelling), or None."""
    if ":" in host:
        if "%" in host:
            raise CallbackRefused("an IPv6 zone (%...) is not allowed in a callback URL")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise CallbackRefused(f"host {host!r} is not a valid IPv6 address") from exc
    return parse_ipv4_spelling(host)


def embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64): a packet to it
    may end up at them."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if any(address in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def refusal(address: Address) -> str | None:
    """Why a connection to `address` is refused by default, or None for a public unicast one."""
    for candidate in (*embedded_ipv4(address), address):  # the inner one names the destination
        kind = _kind(candidate)
        if kind is not None:
            shown = str(candidate) if candidate == address else f"{candidate} (inside {address})"
            return f"{shown} is a {kind} address"
    return None


def _kind(address: Address) -> str | None:
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("non-public", not address.is_global),  # shared (100.64/10), documentation, ...
    )
    return next((kind for kind, hit in checks if hit), None)


def parse_url(url: str) -> Target:
    """The URL taken apart, or CallbackRefused saying what is wrong with its syntax."""
    if len(url.encode()) > MAX_URL_BYTES:
        raise CallbackRefused(f"the callback URL is longer than {MAX_URL_BYTES} bytes")
    if not url.isascii():
        raise CallbackRefused("the callback URL must be ASCII (percent-encode the rest)")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise CallbackRefused("the callback URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CallbackRefused(f"the callback URL is not valid: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise CallbackRefused("the callback URL must be http or https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise CallbackRefused("the callback URL must not contain user information")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise CallbackRefused("the callback URL has no host")
    if port == 0:
        raise CallbackRefused("the callback URL's port must be from 1 to 65535")
    address = ip_literal(host)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(
        scheme=scheme,
        host=str(address) if address is not None else host,
        port=port or SCHEMES[scheme],
        path=path,
        address=address,
    )


def check_address(address: Address, port: int, allow: AllowList) -> None:
    """CallbackRefused unless `address` is public or allowed."""
    reason = refusal(address)
    if reason is not None and not allow.allows(address, port):
        raise CallbackRefused(f"{reason}; not allowed (CALLBACK_ALLOW)")


def check_submitted(url: str, allow: AllowList) -> Target:
    """What the API checks when a run names a callback: the syntax, and the address if the host
    is one. A name is resolved only by the deliverer, which checks what it resolves to."""
    target = parse_url(url)
    if target.address is not None:
        check_address(target.address, target.port, allow)
    return target
