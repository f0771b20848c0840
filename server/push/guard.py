"""Where the server may send a push: the endpoint is user-supplied, so it is checked.

A push endpoint must be https and its host must resolve only to public addresses — never to
loopback, private, link-local or otherwise reserved ones (SSRF). It is checked when the
browser subscribes and again at every send, through a resolver that refuses such addresses,
so a name that later resolves elsewhere (DNS rebinding) is refused at connect time too.
Hosts named in ``FIELDCRM_PUSH_ALLOW_HOSTS`` are exempt, for tests with a local push service.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from server.i18n import Text, _l

MAX_ENDPOINT_LENGTH = 2000


class RefusedEndpoint(Exception):  # noqa: N818 - reads as the condition it names
    """An endpoint the server will not send to; ``reason`` says why, in the user's words."""

    def __init__(self, reason: Text) -> None:
        super().__init__(str(reason))
        self.reason = reason


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def parse(endpoint: str, allow_hosts: frozenset[str]) -> str:
    """The endpoint's host, if its form is acceptable; raises `RefusedEndpoint` otherwise."""
    if not endpoint or len(endpoint) > MAX_ENDPOINT_LENGTH:
        raise RefusedEndpoint(_l("Not a push service address."))
    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
        _ = parts.port  # a bad port raises here
    except ValueError:
        raise RefusedEndpoint(_l("Not a push service address.")) from None
    if not host or parts.username or parts.password:
        raise RefusedEndpoint(_l("Not a push service address."))
    allowed = host in allow_hosts
    if parts.scheme != "https" and not (parts.scheme == "http" and allowed):
        raise RefusedEndpoint(_l("A push service address must use https."))
    if not allowed:
        try:
            literal = not _public(host)
        except ValueError:
            literal = False  # a name, resolved below
        if literal:
            raise RefusedEndpoint(_l("This push service address is not on the internet."))
    return host


async def check(endpoint: str, allow_hosts: frozenset[str]) -> None:
    """Refuse an endpoint whose host is malformed or resolves to a non-public address."""
    host = parse(endpoint, allow_hosts)
    if host in allow_hosts:
        return
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return  # a public literal (parse refused the others)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    except OSError:
        raise RefusedEndpoint(_l("This push service address cannot be found.")) from None
    if not infos or not all(_public(str(info[4][0])) for info in infos):
        raise RefusedEndpoint(_l("This push service address is not on the internet."))


class PrivateAddress(OSError):  # noqa: N818 - reads as the condition
    """A name resolved to an address push must not go to."""


class PublicOnlyResolver(AbstractResolver):
    """aiohttp's resolver, refusing names that resolve to any non-public address."""

    def __init__(self, allow_hosts: frozenset[str]) -> None:
        self.allow_hosts = allow_hosts
        self.inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        if host.lower() not in self.allow_hosts and not all(_public(r["host"]) for r in found):
            raise PrivateAddress(f"refused to connect to {host}: not a public address")
        return found

    async def close(self) -> None:
        await self.inner.close()
