"""Connections for direct fetching that go only to addresses the URL-safety check passed.

httpx2 hands host names to its connection pool, which calls a network backend
to open a TCP connection to `(host, port)`. `CheckedNetworkBackend` resolves
the name itself, checks every address it gets, and connects to one of those
addresses by number, so no second lookup can return a different address. TLS
still runs on the stream with the host name: httpcore2 passes the origin's
name as `server_hostname`, which sets SNI and the certificate's host name check,
and the Host header comes from the URL as before.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable, Iterable

import anyio
import httpcore2
import httpx2 as httpx

from product_extractor.web.url_safety import UnsafeAddressError, UrlPolicy

logger = logging.getLogger(__name__)

# Resolves (host, port) to IP address strings; tests pass their own.
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve_host(host: str, port: int) -> list[str]:
    """Return the addresses `host` resolves to for TCP, in the system resolver's order, without repeats."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _canonical_name, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class CheckedNetworkBackend(httpcore2.AsyncNetworkBackend):
    """A network backend that connects only to resolved addresses `policy` accepts.

    `connector` opens the TCP connection to one checked address; it defaults to
    httpcore2's AnyIO backend, and tests replace it to see where connections go.
    """

    def __init__(
        self,
        policy: UrlPolicy,
        *,
        resolver: Resolver = resolve_host,
        connector: httpcore2.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.connector = connector or httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        """Resolve `host`, reject it if any address is unsafe, else connect to the first address that accepts.

        Raises UnsafeAddressError before any connection is attempted, and httpcore2's
        ConnectError or ConnectTimeout (within `timeout` seconds, for the whole step)
        when resolving or connecting fails.
        """
        try:
            with anyio.fail_after(timeout):
                addresses = await self._resolve(host, port)
                reason = self.policy.resolved_rejection(host, addresses)
                if reason is not None:
                    logger.info("rejected %s:%d before connecting: %s", host, port, reason)
                    raise UnsafeAddressError(reason)
                return await self._connect_first(addresses, port, local_address, socket_options)
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"connecting to {host}:{port} timed out") from None

    async def _resolve(self, host: str, port: int) -> list[str]:
        try:
            addresses = await self.resolver(host, port)
        except OSError as error:
            raise httpcore2.ConnectError(f"{host} could not be resolved: {error}") from error
        if not addresses:
            raise httpcore2.ConnectError(f"{host} resolved to no address")
        return addresses

    async def _connect_first(
        self,
        addresses: list[str],
        port: int,
        local_address: str | None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None,
    ) -> httpcore2.AsyncNetworkStream:
        failures: list[str] = []
        for address in addresses:
            try:
                return await self.connector.connect_tcp(
                    address, port, local_address=local_address, socket_options=socket_options
                )
            except httpcore2.ConnectError as error:
                failures.append(f"{address}: {error}")
        raise httpcore2.ConnectError("; ".join(failures))

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2's interface)
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise httpcore2.ConnectError(f"direct fetching does not connect to Unix sockets ({path})")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class CheckedTransport(httpx.AsyncHTTPTransport):
    """An httpx2 transport whose connection pool opens connections through a `CheckedNetworkBackend`.

    Proxy variables in the environment are ignored: a proxy would resolve host names
    itself, where no check can see the addresses.
    """

    def __init__(self, network_backend: CheckedNetworkBackend, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        # NOTE: httpx2 2.17's AsyncHTTPTransport takes no network backend. This replaces the
        # httpcore2 pool it keeps in `_pool` (created above, never opened) with an equal one
        # around the checked backend. The URL-safety tests fail if a later httpx2 stops using it.
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=network_backend,
        )
