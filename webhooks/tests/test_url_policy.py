"""No SSRF: in production a webhook URL is https:// and every address its
host resolves to is public. The resolver is injected: no DNS here."""

import pytest

from webhooks.url_policy import webhook_url_problem

PUBLIC = "93.184.215.14"


def resolving_to(*addresses: str):
    def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def unresolvable(host: str, port: int) -> list[str]:
    raise OSError("no such host")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # loopback
        "::1",
        "10.1.2.3",  # private
        "172.16.0.9",
        "192.168.1.1",
        "fd12:3456::1",
        "169.254.169.254",  # link-local: the clouds' metadata service
        "fd00:ec2::254",  # AWS's metadata service over IPv6
        "fe80::1%eth0",
        "100.64.0.1",  # shared (carrier-grade NAT)
        "0.0.0.0",  # noqa: S104 - an address to refuse, nothing binds to it
        "::ffff:127.0.0.1",  # loopback in IPv6 clothing
        "224.0.0.1",  # multicast
        "240.0.0.1",  # reserved
    ],
)
def test_production_refuses_a_host_that_resolves_to_a_non_public_address(address):
    problem = webhook_url_problem("https://hooks.example/x", allow_loopback=False, resolve=resolving_to(address))

    assert problem is not None and "public addresses only" in problem


def test_one_non_public_answer_among_public_ones_is_enough_to_refuse():
    resolve = resolving_to(PUBLIC, "10.0.0.1")

    assert webhook_url_problem("https://hooks.example/x", allow_loopback=False, resolve=resolve) is not None


def test_production_takes_https_to_a_public_address():
    assert webhook_url_problem("https://hooks.example/x", allow_loopback=False, resolve=resolving_to(PUBLIC)) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example/x", "https://"),
        ("ftp://hooks.example/x", "https://"),
        ("https:///x", "host"),
        ("https://user:pw@hooks.example/x", "credentials"),
        ("https://hooks.example:99999/x", "valid"),
    ],
)
def test_production_refuses_other_schemes_and_malformed_urls(url, why):
    assert why in webhook_url_problem(url, allow_loopback=False, resolve=resolving_to(PUBLIC))


def test_a_host_that_does_not_resolve_is_refused():
    assert "does not resolve" in webhook_url_problem(
        "https://nowhere.example/", allow_loopback=False, resolve=unresolvable
    )


def test_development_allows_a_local_receiver_over_http_but_nothing_else_private():
    local = webhook_url_problem("http://localhost:8001/hook", allow_loopback=True, resolve=resolving_to("127.0.0.1"))
    private = webhook_url_problem("http://box.lan/hook", allow_loopback=True, resolve=resolving_to("192.168.1.5"))
    plain_public = webhook_url_problem("http://hooks.example/", allow_loopback=True, resolve=resolving_to(PUBLIC))

    assert local is None
    assert private is not None
    assert plain_public is not None and "https://" in plain_public
