"""The webhook address classifier as a pure unit: every spelling and special-use range, with
no connection and no DNS (names go to a stand-in resolver; only `localhost` is real)."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from ipaddress import ip_address
from typing import Any

import pytest

from workflow.webhook_addresses import (
    Refused,
    check_host,
    check_url,
    classify,
    parse_literal,
    redact,
    refusal,
    scrub,
)

SPELLINGS = [  # host as written -> the address it is
    ("127.0.0.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),  # one decimal number
    ("0x7f000001", "127.0.0.1"),  # one hex number
    ("0X7F000001", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),  # one octal number
    ("0177.0.0.1", "127.0.0.1"),  # octal parts
    ("0x7f.0.0.0x1", "127.0.0.1"),  # hex parts
    ("127.1", "127.0.0.1"),  # a.b: the last part fills 3 bytes
    ("127.0.1", "127.0.0.1"),  # a.b.c: the last part fills 2 bytes
    ("10.1", "10.0.0.1"),
    ("192.168.257", "192.168.1.1"),
    ("127.0.0.1.", "127.0.0.1"),  # a trailing dot
    ("0", "0.0.0.0"),
    ("::1", "::1"),
    ("[::1]", "::1"),
    ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
    ("::ffff:7f00:1", "::ffff:7f00:1"),
    ("0:0:0:0:0:0:0:1", "::1"),
    ("fe80::1%eth0", "fe80::1%eth0"),
    ("8.8.8.8", "8.8.8.8"),
]


@pytest.mark.parametrize(("host", "address"), SPELLINGS)
def test_every_spelling_of_an_address_is_read_as_that_address(host: str, address: str) -> None:
    assert parse_literal(host) == ip_address(address)


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "localhost",
        "localhost.",
        "hooks.example.test",
        "1.example",
        "0x.example",
        "a1",
        "xn--bcher-kva.example",
    ],
)
def test_names_are_left_to_resolve(host: str) -> None:
    assert parse_literal(host) is None


@pytest.mark.parametrize(
    "host",
    [
        "1.2.3.256",
        "256.1.1.1",
        "1.2.3.4.5",
        "08.1.1.1",
        "0x1g.1",
        "1..2",
        "4294967296",
        "1.16777216",
        "example.1",
        "::g",
        "1::2::3",
        "::ffff:0177.0.0.1",
    ],
)
def test_a_numeric_host_that_is_no_address_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="not"):
        parse_literal(host)


NOT_PUBLIC = [  # address -> what it is, and whether WEBHOOK_ALLOW_PRIVATE=true allows it
    ("0.0.0.0", "unspecified", False),
    ("0.1.2.3", "unspecified", False),
    ("10.0.0.1", "a private address", True),
    ("10.255.255.255", "a private address", True),
    ("100.64.0.1", "carrier-grade NAT", True),
    ("100.127.255.255", "carrier-grade NAT", True),
    ("127.0.0.1", "a loopback address", True),
    ("127.255.255.254", "a loopback address", True),
    ("169.254.169.254", "a link-local address", True),  # cloud metadata
    ("172.16.0.1", "a private address", True),
    ("172.31.255.255", "a private address", True),
    ("192.0.0.8", "IETF protocol assignment", False),
    ("192.0.2.1", "documentation", False),
    ("192.88.99.1", "6to4 relay", False),
    ("192.168.1.1", "a private address", True),
    ("198.18.0.1", "benchmarking", True),
    ("198.51.100.7", "documentation", False),
    ("203.0.113.9", "documentation", False),
    ("224.0.0.1", "multicast", False),
    ("239.255.255.250", "multicast", False),
    ("240.0.0.1", "a reserved address", False),
    ("255.255.255.255", "the broadcast address", False),
    ("::", "the unspecified address", False),
    ("::1", "a loopback address", True),
    ("::ffff:127.0.0.1", "an IPv4-mapped address of 127.0.0.1, a loopback address", True),
    ("::ffff:10.0.0.1", "an IPv4-mapped address of 10.0.0.1, a private address", True),
    ("::ffff:169.254.169.254", "a link-local address", True),
    ("::ffff:0.0.0.0", "unspecified", False),
    ("::127.0.0.1", "IPv4-compatible", False),
    ("::8.8.8.8", "IPv4-compatible", False),
    ("64:ff9b::10.0.0.1", "a NAT64 address of 10.0.0.1, a private address", True),
    ("64:ff9b::127.0.0.1", "a loopback address", True),
    ("64:ff9b:1::1", "local-use NAT64", True),
    ("100::1", "discard-only", False),
    ("2001::1", "Teredo", False),
    ("2001:2::1", "benchmarking", True),
    ("2001:10::1", "ORCHID", False),
    ("2001:db8::1", "documentation", False),
    ("2002:7f00:1::1", "a 6to4 address of 127.0.0.1, a loopback address", True),
    ("2002:c0a8:101::", "a 6to4 address of 192.168.1.1, a private address", True),
    ("2002:a9fe:a9fe::1", "link-local", True),
    ("3fff::1", "documentation", False),
    ("5f00::1", "segment routing", False),
    ("fc00::1", "a unique-local address", True),
    ("fd12:3456::1", "a unique-local address", True),
    ("fe80::1", "a link-local address", True),
    ("fe80::1%eth0", "a link-local address", True),
    ("fec0::1", "a site-local address", True),
    ("ff02::1", "a multicast address", False),
    ("4000::1", "a reserved address", False),  # outside global unicast 2000::/3
    ("::2", "IPv4-compatible", False),
]


@pytest.mark.parametrize(("address", "what", "private"), NOT_PUBLIC)
def test_special_use_addresses_are_not_public(address: str, what: str, private: bool) -> None:
    verdict = classify(ip_address(address))
    assert verdict is not None and what in verdict.what and verdict.private == private
    assert refusal(ip_address(address), allow_private=False) == verdict
    assert (refusal(ip_address(address), allow_private=True) is None) == private


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "100.63.255.255",
        "100.128.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.167.255.255",
        "192.169.0.0",
        "11.0.0.1",
        "126.255.255.255",
        "128.0.0.1",
        "223.255.255.255",
        "2606:4700:4700::1111",
        "2a00:1450:4001::1",
        "::ffff:8.8.8.8",
        "64:ff9b::8.8.8.8",
        "2002:808:808::1",
        "2001:4860:4860::8888",
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert classify(ip_address(address)) is None
    assert refusal(ip_address(address), allow_private=False) is None


class Resolver:
    """A stand-in for getaddrinfo: answers from a table, records what it was asked."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers, self.asked = answers, list[str]()

    async def __call__(self, host: str, port: int) -> Sequence[tuple[Any, ...]]:
        self.asked.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in self.answers[host]
        ]


async def test_a_name_is_refused_if_any_of_its_addresses_is_not_public() -> None:
    resolve = Resolver(
        {
            "hooks.example": ["93.184.215.14", "2606:2800:21f:cb07::1"],
            "rebind.example": ["93.184.215.14", "10.0.0.5"],
            "mapped.example": ["::ffff:192.168.0.1"],
        }
    )
    assert await check_host("hooks.example", 443, False, resolve) == [
        ip_address("93.184.215.14"),
        ip_address("2606:2800:21f:cb07::1"),
    ]
    with pytest.raises(Refused, match=r"^rebind.example resolves to a private address$") as e:
        await check_host("rebind.example", 443, False, resolve)
    assert e.value.private
    assert await check_host("rebind.example", 443, True, resolve)  # the policy allows it
    with pytest.raises(Refused, match="mapped.example resolves to a private address"):
        await check_host("mapped.example", 443, False, resolve)
    assert await check_host("hooks.example.", 443, False, resolve)  # one trailing dot: the same
    assert resolve.asked[-1] == "hooks.example"


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    resolve = Resolver({"empty.example": []})
    for host in ("nothing.example", "empty.example"):
        with pytest.raises(Refused, match=f"^{host} does not resolve$"):
            await check_host(host, 443, False, resolve)
        with pytest.raises(Refused, match="does not resolve"):
            await check_url(f"https://{host}/hooks", False, resolve)


async def test_localhost_resolves_to_a_refused_address() -> None:
    """The real resolver, on a name every machine's hosts file has."""
    for host in ("localhost", "LOCALHOST", "localhost."):
        with pytest.raises(Refused, match="^localhost.? resolves to a loopback address$"):
            await check_host(host.lower(), 80, False)


async def test_literals_are_never_resolved_and_private_ones_pass_only_with_the_policy() -> None:
    resolve = Resolver({})
    for host in ("127.0.0.1", "2130706433", "[::1]", "::ffff:127.0.0.1", "127.1"):
        with pytest.raises(Refused, match="a loopback address$"):
            await check_host(host, 80, False, resolve)
        assert await check_host(host, 80, True, resolve)
    with pytest.raises(Refused, match="is a multicast address"):
        await check_host("224.0.0.1", 80, True, resolve)  # never a receiver, policy or not
    assert resolve.asked == []


async def test_with_the_policy_on_registration_resolves_nothing() -> None:
    resolve = Resolver({})
    await check_url("https://hooks.example.test/1", True, resolve)
    await check_url("http://127.0.0.1:9/x", True, resolve)
    with pytest.raises(Refused, match="0.0.0.0 is an unspecified"):
        await check_url("http://0.0.0.0:9/x", True, resolve)
    with pytest.raises(Refused, match="not an IPv4 address"):
        await check_url("http://1.2.3.999/x", True, resolve)
    assert resolve.asked == []


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (
            "https://user:pass@hooks.example:8443/in/box?token=abc#frag",
            "https://hooks.example:8443/…",
        ),
        ("http://hooks.example/path?sig=1", "http://hooks.example/…"),
        ("https://hooks.slack.example/services/T0/B0/secret", "https://hooks.slack.example/…"),
        ("http://[::1]:9/x?y=z", "http://[::1]:9/…"),
        ("HTTPS://Hooks.Example/", "https://hooks.example/"),
        ("http://a@b@hooks.example/", "http://hooks.example/"),
        ("http://hooks.example:99999/", "(an unreadable URL)"),
    ],
)
def test_urls_are_redacted_of_userinfo_path_query_and_fragment(url: str, redacted: str) -> None:
    assert redact(url) == redacted


def test_an_error_text_is_scrubbed_of_the_urls_credentials() -> None:
    url = "https://hook-user:p%40ss@hooks.example/in?token=tok-123"
    text = f"ConnectError: {url} failed; token=tok-123 (p@ss, hook-user)"
    scrubbed = scrub(text, url)
    assert "https://hooks.example/… failed" in scrubbed
    assert all(s not in scrubbed for s in ("tok-123", "p@ss", "p%40ss", "hook-user"))
