"""Which URLs a webhook may be sent to: no SSRF. In production only
``https://`` URLs whose host resolves to public addresses only (no loopback,
private, link-local, metadata, shared or reserved ones); outside production
(``WEBHOOK_ALLOW_LOOPBACK``) also ``http://`` and loopback, for a local
receiver. Checked when an endpoint is saved, and again at each delivery (DNS
can change), which connects to an address checked then. The resolver is a
parameter, so that tests cover every kind of answer without DNS.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _address_problem(address: str, *, allow_loopback: bool) -> str | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if allow_loopback and ip.is_loopback:
        return None
    if not ip.is_global or ip.is_multicast:
        return f"{address} is not a public address"
    return None


@dataclasses.dataclass(frozen=True)
class Target:
    """A URL that passed the rule, with the addresses it was checked against:
    a delivery connects to one of these, never resolves the host again."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: list[str]


class RefusedURL(Exception):
    pass


def webhook_url_target(url: str, *, allow_loopback: bool, resolve: Resolver = system_resolver) -> Target:
    """``url`` checked, with the addresses its host resolves to now; raises
    ``RefusedURL`` saying why it may not receive webhooks."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RefusedURL("Not a valid URL.") from None
    schemes = {"https", "http"} if allow_loopback else {"https"}
    if parts.scheme not in schemes:
        raise RefusedURL("The URL must start with https://.")
    if not parts.hostname:
        raise RefusedURL("The URL needs a host.")
    if parts.username is not None or parts.password is not None:
        raise RefusedURL("The URL may not carry credentials.")
    try:
        addresses = resolve(parts.hostname, port)
    except OSError:
        addresses = []
    if not addresses:
        raise RefusedURL(f"{parts.hostname} does not resolve.")
    problems = [problem for a in addresses if (problem := _address_problem(a, allow_loopback=allow_loopback))]
    if problems:
        raise RefusedURL(f"{parts.hostname} resolves to {problems[0]}: webhooks go to public addresses only.")
    if parts.scheme == "http" and not all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses):
        raise RefusedURL("The URL must start with https:// (http:// only for this machine).")
    path = parts.path or "/"
    return Target(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        path=f"{path}?{parts.query}" if parts.query else path,
        addresses=addresses,
    )


def webhook_url_problem(url: str, *, allow_loopback: bool, resolve: Resolver = system_resolver) -> str | None:
    """Why ``url`` may not receive webhooks, or None when it may."""
    try:
        webhook_url_target(url, allow_loopback=allow_loopback, resolve=resolve)
    except RefusedURL as refused:
        return str(refused)
    return None
