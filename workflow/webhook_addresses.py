"""Where webhooks may be sent: public addresses only, unless WEBHOOK_ALLOW_PRIVATE=true.

The firm chooses a webhook's URL and the server makes the request, so without a check any firm
could make the server reach its own network (SSRF) and read the outcome back from
lastStatusCode and lastError. A target is checked twice: when an endpoint is registered
(workflow.webhooks), and when the sender connects (webhooks.transport), because DNS can change
in between; the sender connects only to an address it has just checked.

The classifier is pure: `parse_literal` reads a host that is an address by itself in any
spelling the C library or a browser accepts (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`,
`[::ffff:127.0.0.1]`, a trailing dot), and `classify` says why an address is not public.
`check_host` resolves names with the event loop's getaddrinfo and refuses a host if any of its
addresses is not public (a name that does not resolve is refused too).

POLICY is the process's choice, set once at start from settings (web.app's lifespan, the
`worker` command); off by default. On, private-network addresses (loopback, RFC 1918,
link-local, unique-local, carrier-grade NAT, benchmarking) are allowed, for local development
and the tests; addresses nobody can serve a webhook on (unspecified, multicast, broadcast,
reserved, documentation) stay refused, and names are not resolved at registration.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit

IPAddress = IPv4Address | IPv6Address
# (host, port) -> getaddrinfo's answer; the event loop's by default, a stand-in in unit tests.
Resolver = Callable[[str, int], Awaitable[Sequence[tuple[Any, ...]]]]
RESOLVE_TIMEOUT = 5.0  # seconds a name has to resolve at registration


@dataclass
class Policy:
    allow_private: bool = False


POLICY = Policy()


def configure(allow_private: bool) -> None:
    """The process's policy, from settings (WEBHOOK_ALLOW_PRIVATE), set at start."""
    POLICY.allow_private = allow_private


class NotPublic(NamedTuple):
    what: str  # "a loopback address", "a NAT64 address of 10.0.0.1, a private address"
    private: bool  # a private network's address: allowed with WEBHOOK_ALLOW_PRIVATE=true
    kind: str = ""  # what, without the addresses in it (said of a name's addresses)


class Refused(Exception):
    """A host webhooks may not be sent to; the message says why (it names no credentials)."""

    def __init__(self, reason: str, private: bool = False) -> None:
        super().__init__(reason)
        self.private = private  # WEBHOOK_ALLOW_PRIVATE=true would allow it


_LOOPBACK, _PRIVATE, _LINK_LOCAL = "a loopback address", "a private address", "a link-local address"
_DOCUMENTATION, _RESERVED = "a documentation address", "a reserved address"
_IETF = "an IETF protocol assignment"

# The special-use registries (IANA), most specific first: the first match says what it is.
_V4: tuple[tuple[IPv4Network, NotPublic], ...] = tuple(
    (IPv4Network(network), NotPublic(what, private, what))
    for network, what, private in (
        ("0.0.0.0/8", "an unspecified ('this network') address", False),
        ("10.0.0.0/8", _PRIVATE, True),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address", True),
        ("127.0.0.0/8", _LOOPBACK, True),
        ("169.254.0.0/16", _LINK_LOCAL, True),
        ("172.16.0.0/12", _PRIVATE, True),
        ("192.0.0.0/24", _IETF, False),
        ("192.0.2.0/24", _DOCUMENTATION, False),
        ("192.88.99.0/24", "a 6to4 relay anycast address", False),
        ("192.168.0.0/16", _PRIVATE, True),
        ("198.18.0.0/15", "a benchmarking address", True),
        ("198.51.100.0/24", _DOCUMENTATION, False),
        ("203.0.113.0/24", _DOCUMENTATION, False),
        ("224.0.0.0/4", "a multicast address", False),
        ("255.255.255.255/32", "the broadcast address", False),
        ("240.0.0.0/4", _RESERVED, False),
    )
)
# Prefixes whose addresses carry an IPv4 address: judged by it (where it is, bit offset).
_MAPPED, _NAT64, _6TO4 = (
    IPv6Network("::ffff:0:0/96"),
    IPv6Network("64:ff9b::/96"),
    IPv6Network("2002::/16"),
)
_EMBEDDING = (
    (_MAPPED, 0, "an IPv4-mapped address of"),
    (_NAT64, 0, "a NAT64 address of"),
    (_6TO4, 80, "a 6to4 address of"),
)
_V6: tuple[tuple[IPv6Network, NotPublic], ...] = tuple(
    (IPv6Network(network), NotPublic(what, private, what))
    for network, what, private in (
        ("::/128", "the unspecified address", False),
        ("::1/128", _LOOPBACK, True),
        ("::/96", "an IPv4-compatible address (deprecated)", False),
        ("64:ff9b:1::/48", "a local-use NAT64 address", True),
        ("100::/64", "a discard-only address", False),
        ("2001::/32", "a Teredo address", False),
        ("2001:2::/48", "a benchmarking address", True),
        ("2001:10::/28", "an ORCHID address", False),
        ("2001:20::/28", "an ORCHIDv2 address", False),
        ("2001::/23", _IETF, False),
        ("2001:db8::/32", _DOCUMENTATION, False),
        ("3fff::/20", _DOCUMENTATION, False),
        ("5f00::/16", "a segment routing (SRv6) address", False),
        ("fc00::/7", "a unique-local address", True),
        ("fe80::/10", _LINK_LOCAL, True),
        ("fec0::/10", "a site-local address (deprecated)", True),
        ("ff00::/8", "a multicast address", False),
    )
)
_GLOBAL_UNICAST = IPv6Network("2000::/3")  # the rest of IPv6 is unassigned


def classify(address: IPAddress) -> NotPublic | None:
    """Why `address` is not a public unicast address, or None if it is."""
    if isinstance(address, IPv4Address):
        return next((verdict for network, verdict in _V4 if address in network), None)
    plain = IPv6Address(int(address))  # without a zone index
    for prefix, shift, what in _EMBEDDING:
        if plain in prefix:
            inner = IPv4Address((int(plain) >> shift) & 0xFFFFFFFF)
            if (verdict := classify(inner)) is None:
                return None
            return NotPublic(f"{what} {inner}, {verdict.what}", verdict.private, verdict.kind)
    for network, verdict in _V6:
        if plain in network:
            return verdict
    return None if plain in _GLOBAL_UNICAST else NotPublic(_RESERVED, False, _RESERVED)


def refusal(address: IPAddress, allow_private: bool) -> NotPublic | None:
    """What refuses `address` under the policy, or None if webhooks may go there."""
    verdict = classify(address)
    return None if verdict is None or (allow_private and verdict.private) else verdict


_NUMBER = re.compile(r"0x[0-9a-f]*|[0-9]+")


def _number(text: str) -> int:
    if text.startswith("0x"):
        return int(text[2:] or "0", 16)
    if len(text) > 1 and text.startswith("0"):
        return int(text, 8)  # ValueError for 08, 09: said by parse_literal
    return int(text)


def parse_literal(host: str) -> IPAddress | None:
    """The address `host` is by itself, or None for a name to resolve. Spelled as inet_aton
    and browsers read it: 1 to 4 parts, each decimal, 0x hex or 0 octal, the last filling the
    remaining bytes (`127.1` is 127.0.0.1); IPv6 in or out of brackets. ValueError for a host
    that is numeric (its last label is a number) but no address."""
    host = host.lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        return ip_address(host)
    labels = host.removesuffix(".").split(".")
    if not _NUMBER.fullmatch(labels[-1]):
        return None  # a name (a name's last label is never a number)
    try:
        if len(labels) > 4 or not all(_NUMBER.fullmatch(label) for label in labels):
            raise ValueError
        *head, last = (_number(label) for label in labels)
        if any(part > 255 for part in head) or last >= 1 << (8 * (4 - len(head))):
            raise ValueError
    except ValueError:
        raise ValueError(f"{host} is not an IPv4 address") from None
    return IPv4Address(sum(part << (8 * (3 - n)) for n, part in enumerate(head)) + last)


async def _getaddrinfo(host: str, port: int) -> Sequence[tuple[Any, ...]]:
    return await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)


def _check_literal(host: str, allow_private: bool) -> IPAddress | None:
    """The address `host` is by itself, if allowed (Refused if not), or None for a name."""
    try:
        literal = parse_literal(host)
    except ValueError as error:
        raise Refused(str(error)) from None
    if literal is not None and (verdict := refusal(literal, allow_private)):
        raise Refused(f"{literal} is {verdict.what}", verdict.private)
    return literal


async def check_host(
    host: str, port: int, allow_private: bool, resolve: Resolver = _getaddrinfo
) -> list[IPAddress]:
    """The addresses `host` stands for, in the resolver's order, every one allowed; else
    Refused (one address that is not allowed refuses the host: DNS may answer with any)."""
    if (literal := _check_literal(host, allow_private)) is not None:
        return [literal]
    try:  # one trailing dot or none name the same host (and "localhost." is in no hosts file)
        answers = await resolve(host.removesuffix("."), port)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        raise Refused(f"{host} does not resolve") from None
    addresses = list(dict.fromkeys(ip_address(answer[4][0]) for answer in answers))
    if not addresses:
        raise Refused(f"{host} does not resolve")
    for address in addresses:
        if verdict := refusal(address, allow_private):
            # Not which address: a firm is not to map the deployment's network by name.
            raise Refused(f"{host} resolves to {verdict.kind}", verdict.private)
    return addresses


async def check_url(url: str, allow_private: bool, resolve: Resolver = _getaddrinfo) -> None:
    """Refused unless webhooks may be sent to `url`'s host. With private targets allowed, a
    name is not resolved (nothing would refuse it but an odd address, refused when sending)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if allow_private:
        _check_literal(host, allow_private)
        return
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            await check_host(host, parts.port or 0, allow_private, resolve)
    except TimeoutError:
        raise Refused(f"{host} did not resolve within {RESOLVE_TIMEOUT:g} s") from None


def redact(url: str) -> str:
    """`url` fit for logs and error texts: scheme, host and port, without the userinfo, path,
    query and fragment that may carry credentials (chat services' hook URLs hold their secret
    in the path): "/…" stands for a path."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "(an unreadable URL)"
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    path = "/…" if parts.path.strip("/") else parts.path
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def scrub(text: str, url: str) -> str:
    """`text` (an HTTP client's error, which may quote the URL) without `url`'s userinfo,
    query and fragment, as written or decoded."""
    text = text.replace(url, redact(url))
    try:
        parts = urlsplit(url)
    except ValueError:
        return text
    userinfo = parts.netloc.rpartition("@")[0]
    secrets = {
        part
        for raw in (userinfo, parts.query, parts.fragment)
        if raw
        for part in (raw, unquote(raw), *raw.split(":"), *unquote(raw).split(":"))
        if len(part) > 1
    }
    for secret in sorted(secrets, key=len, reverse=True):  # the longest first: it holds others
        text = text.replace(secret, "[redacted]")
    return text
