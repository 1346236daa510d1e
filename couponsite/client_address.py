"""The client's address, as the admin's login lockout sees it.

Behind a proxy every request arrives from the proxy's address and the
client's is in ``X-Forwarded-For``, a header anyone can write. It is read
only when the request came from a trusted proxy (``FORWARDED_ALLOW_IPS``,
the one list gunicorn also trusts ``X-Forwarded-Proto`` from), and only as
far as trusted proxies vouch for it: from the right, each trusted address is
passed over and the first other one is the client (nginx's
``real_ip_recursive``). What stands to its left the client wrote itself.

Nothing here reads the settings on import: ``gunicorn.conf.py`` takes its
default from this module too.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from django.http import HttpRequest

DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TrustedProxies:
    """``FORWARDED_ALLOW_IPS`` as gunicorn reads it: addresses and networks,
    comma separated, or ``*`` for any peer."""

    networks: tuple[Network, ...]
    any_peer: bool

    @classmethod
    def parse(cls, value: str) -> TrustedProxies:
        """Raises ValueError on an entry that is neither an address, a network nor ``*``."""
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        return cls(
            networks=tuple(ipaddress.ip_network(entry) for entry in entries if entry != "*"),
            any_peer="*" in entries,
        )

    def listed(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in self.networks)


@functools.lru_cache(maxsize=8)
def trusted_proxies(value: str) -> TrustedProxies:
    return TrustedProxies.parse(value)


def client_address(*, peer: str, forwarded_for: str, trusted: TrustedProxies) -> str:
    """The client's address for a request from ``peer`` (``REMOTE_ADDR``)
    carrying ``forwarded_for`` (``X-Forwarded-For``, possibly empty).

    ``*`` trusts the peer itself but no address inside the header: with it,
    the right-most entry (the one the proxy added) is the client. A peer
    without an IP address (a Unix socket) is trusted, as gunicorn does.
    """
    try:
        peer_address = ipaddress.ip_address(peer)
    except ValueError:
        peer_address = None
    if peer_address is not None and not (trusted.any_peer or trusted.listed(peer_address)):
        return peer
    client = peer
    for entry in reversed(forwarded_for.split(",")):
        try:
            hop = ipaddress.ip_address(entry.strip())
        except ValueError:
            # A hop no proxy of ours wrote: the last address vouched for stands.
            return client
        client = str(hop)
        if not trusted.listed(hop):
            return client
    return client


def request_client_address(request: HttpRequest) -> str:
    """django-axes' ``AXES_CLIENT_IP_CALLABLE``."""
    return client_address(
        peer=request.META.get("REMOTE_ADDR", ""),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", ""),
        trusted=trusted_proxies(settings.FORWARDED_ALLOW_IPS),
    )
