"""The sender's HTTP client: it connects only to addresses it has just checked.

Every connection resolves the URL's host once (the event loop's getaddrinfo), checks every
address it gets (workflow.webhook_addresses), and connects to a checked address itself, so DNS
cannot answer the check with one address and the connection with another. Only the TCP
connection goes to the address: the Host header, TLS SNI and certificate verification stay
the URL's host name. A refused host raises Refused before any connection is made.

Redirects are not followed, and proxies or credentials from the environment are not used (a
proxy would connect in our stead, to an address we never checked).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterable

import httpcore
import httpx

from workflow.webhook_addresses import POLICY, check_host, redact

LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to checked addresses. `allow_private`
    None follows the process's POLICY at each connection."""

    def __init__(self, allow_private: bool | None = None) -> None:
        self.allow_private = allow_private
        self.network = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        allow = POLICY.allow_private if self.allow_private is None else self.allow_private
        try:
            async with asyncio.timeout(timeout):  # the connect timeout covers resolving too
                addresses = await check_host(host, port, allow)  # Refused: nothing connected
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"{host} did not resolve in time") from None
        failure: Exception | None = None
        for address in addresses:  # like a client would: the next one if one fails
            try:
                return await self.network.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None  # check_host returns at least one address
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are not sent over unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.network.sleep(seconds)


class CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a CheckedBackend. httpx (0.28) takes no network backend, so its
    connection pool is replaced by an equal one that has it (tests/test_ssrf.py proves the
    check holds). `ssl_context`: the certificates trusted (default: certifi's)."""

    def __init__(
        self, allow_private: bool | None = None, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(trust_env=False, limits=LIMITS)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=LIMITS.max_connections,
            max_keepalive_connections=LIMITS.max_keepalive_connections,
            keepalive_expiry=LIMITS.keepalive_expiry,
            network_backend=CheckedBackend(allow_private),
        )


class RedactUrls(logging.Filter):
    """httpx logs each request with its URL (INFO): without userinfo and query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


def new_client(timeout: float, allow_private: bool | None = None) -> httpx.AsyncClient:
    """A client for webhook deliveries (allow_private None: the process's POLICY at each
    connection)."""
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, RedactUrls) for f in httpx_log.filters):
        httpx_log.addFilter(RedactUrls())
    return httpx.AsyncClient(
        transport=CheckedTransport(allow_private),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
