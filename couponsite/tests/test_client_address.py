"""Which address the admin's login lockout holds a request to: X-Forwarded-For
only from the proxies of FORWARDED_ALLOW_IPS, read from the right."""

from __future__ import annotations

import pytest

from couponsite.client_address import DEFAULT_FORWARDED_ALLOW_IPS, TrustedProxies, client_address
from couponsite.tests.test_gunicorn_conf import conf
from couponsite.tests.test_settings import django

PROXY = "10.0.0.2"
CLIENT = "203.0.113.7"
SPOOFED = "198.51.100.9"


def address(peer: str, forwarded_for: str = "", allow: str = PROXY) -> str:
    return client_address(peer=peer, forwarded_for=forwarded_for, trusted=TrustedProxies.parse(allow))


def test_a_peer_that_is_not_a_trusted_proxy_is_the_client_whatever_it_forwards():
    assert address(CLIENT, SPOOFED) == CLIENT
    assert address(CLIENT, f"{SPOOFED}, {PROXY}") == CLIENT


def test_through_the_proxy_the_address_it_added_is_the_client():
    assert address(PROXY, CLIENT) == CLIENT
    assert address(PROXY, f"{SPOOFED}, {CLIENT}") == CLIENT
    assert address(PROXY, f"{SPOOFED},{CLIENT}") == CLIENT


def test_through_a_chain_of_trusted_proxies_the_first_untrusted_hop_from_the_right_is_the_client():
    assert address("10.0.0.3", f"{SPOOFED}, {CLIENT}, 10.0.0.2", allow="10.0.0.0/24") == CLIENT
    assert address("10.0.0.3", f"{SPOOFED}, {CLIENT}, 10.0.0.2", allow="10.0.0.3") == "10.0.0.2"


def test_the_proxy_without_a_forwarded_address_is_itself_the_client():
    assert address(PROXY) == PROXY


def test_a_hop_that_is_not_an_address_stops_the_walk_at_the_last_vouched_address():
    assert address(PROXY, f"{SPOOFED}, not-an-address, {CLIENT}") == CLIENT
    assert address(PROXY, "not-an-address") == PROXY
    assert address("10.0.0.3", f"{CLIENT}, garbage, 10.0.0.2", allow="10.0.0.0/24") == "10.0.0.2"


def test_a_star_trusts_the_peer_but_no_address_inside_the_header():
    assert address(CLIENT, f"{SPOOFED}, {PROXY}", allow="*") == PROXY
    assert address(PROXY, f"{SPOOFED}, {CLIENT}", allow="*") == CLIENT


def test_a_unix_socket_peer_is_trusted_as_gunicorn_trusts_it():
    assert address("", CLIENT) == CLIENT


def test_ipv6_proxies_and_clients_are_read_in_their_normal_form():
    assert address("::1", "2001:DB8::0:1", allow="127.0.0.1,::1") == "2001:db8::1"


def test_an_entry_that_is_neither_an_address_nor_a_network_is_refused():
    with pytest.raises(ValueError):
        TrustedProxies.parse("10.0.0.2,proxy.internal")


def test_django_refuses_to_start_with_a_forwarded_allow_ips_it_cannot_read():
    result = django("check", DJANGO_ENV="test", FORWARDED_ALLOW_IPS="proxy.internal")

    assert result.returncode != 0
    assert "FORWARDED_ALLOW_IPS" in result.stderr


def test_gunicorn_and_django_read_one_forwarded_allow_ips(monkeypatch, settings):
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    assert conf(monkeypatch)["forwarded_allow_ips"] == DEFAULT_FORWARDED_ALLOW_IPS

    assert conf(monkeypatch, FORWARDED_ALLOW_IPS="10.1.0.0/16")["forwarded_allow_ips"] == "10.1.0.0/16"
    result = django(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.FORWARDED_ALLOW_IPS)",
        DJANGO_ENV="test",
        FORWARDED_ALLOW_IPS="10.1.0.0/16",
    )
    assert result.stdout.splitlines()[-1] == "10.1.0.0/16"
