"""A delivery goes only where the rule allows at the moment it is sent: the
URL is checked again (DNS can change), the connection goes to the checked
address, redirects are not followed and answers are read only so far."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time

import pytest

from coupons.services import coupon_void
from couponsite.actors import Actor
from webhooks.delivery import webhook_endpoint_drain
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from webhooks.tests.helpers import book_coupons, endpoint_for, fan_out_until, resolving_to, stocked_book
from webhooks.tests.receiver import Reply, receiving
from webhooks.transport import RESPONSE_BODY_MAX_BYTES, DeliveryError, post_pinned
from webhooks.url_policy import webhook_url_target

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = Actor.system("test")


def one_event_for(endpoint, book) -> None:
    coupon_void(coupon=book_coupons(book)[0], actor=ACTOR)
    fan_out_until(endpoint, 1)


@pytest.mark.parametrize("address", ["10.0.0.7", "169.254.169.254", "192.168.1.1", "fd00:ec2::254"])
def test_a_host_that_resolves_elsewhere_at_delivery_time_gets_nothing(address):
    partner, book = stocked_book()
    with receiving(Reply(200)) as receiver:
        url = receiver.url(host="hooks.test")
        endpoint = endpoint_for(partner, url, resolve=resolving_to("127.0.0.1"))
        one_event_for(endpoint, book)

        result = webhook_endpoint_drain(endpoint_id=endpoint.pk, resolve=resolving_to(address))

        assert receiver.received == []
    assert result.failed_attempts == 1
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None
    assert attempt.error.startswith("Refused: hooks.test resolves to") and address in attempt.error
    assert WebhookDelivery.objects.get().status == DeliveryStatus.PENDING  # retried: DNS may change back


def test_the_connection_goes_to_the_checked_address_with_the_hosts_name():
    partner, book = stocked_book()
    with receiving(Reply(200)) as receiver:
        # No DNS knows this name: only the checked address can reach the receiver.
        url = receiver.url(host="receiver.invalid")
        endpoint = endpoint_for(partner, url, resolve=resolving_to("127.0.0.1"))
        one_event_for(endpoint, book)

        result = webhook_endpoint_drain(endpoint_id=endpoint.pk, resolve=resolving_to("127.0.0.1"))

        assert result.succeeded == 1
        [received] = receiver.received
    assert received.headers["host"] == f"receiver.invalid:{receiver.port}"


def test_a_redirect_is_an_unsuccessful_answer_and_is_not_followed():
    partner, book = stocked_book()
    with receiving(Reply(200)) as elsewhere:
        with receiving(Reply(307, headers={"location": elsewhere.url()})) as receiver:
            endpoint = endpoint_for(partner, receiver.url())
            one_event_for(endpoint, book)

            result = webhook_endpoint_drain(endpoint_id=endpoint.pk)

            assert len(receiver.received) == 1
        assert elsewhere.received == []
    assert result.failed_attempts == 1
    attempt = WebhookAttempt.objects.get()
    assert (attempt.status_code, attempt.error) == (307, "HTTP 307 (redirects are not followed)")


def test_an_answers_body_is_read_only_up_to_the_bound():
    huge = b"x" * (RESPONSE_BODY_MAX_BYTES * 8)
    with receiving(Reply(200, body=huge)) as receiver:
        target = webhook_url_target(receiver.url(), allow_loopback=True)

        answer = post_pinned(target=target, body=b"{}", headers={"content-type": "application/json"}, timeout=5)

    assert answer.status == 200
    assert len(answer.body) == RESPONSE_BODY_MAX_BYTES


def test_production_settings_refuse_loopback_at_delivery_time(settings):
    partner, book = stocked_book()
    with receiving(Reply(200)) as receiver:
        endpoint = endpoint_for(partner, receiver.url())
        one_event_for(endpoint, book)
        settings.WEBHOOK_ALLOW_LOOPBACK = False

        webhook_endpoint_drain(endpoint_id=endpoint.pk)

        assert receiver.received == []
    assert WebhookAttempt.objects.get().error == "Refused: The URL must start with https://."


def test_an_answer_dripped_a_byte_at_a_time_is_cut_off_at_the_deadline():
    with receiving(Reply(drip=0.05)) as receiver:
        target = webhook_url_target(receiver.url(), allow_loopback=True)
        started = time.monotonic()

        with pytest.raises(DeliveryError, match=r"No answer within 0.5 s"):
            post_pinned(target=target, body=b"{}", headers={"content-type": "application/json"}, timeout=0.5)

        assert time.monotonic() - started < 2


def self_signed(directory, name: str) -> tuple[str, str]:
    """A certificate for ``name`` and its key, made by the openssl command."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            shutil.which("openssl"),
            *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
@pytest.mark.parametrize(("certified", "accepted"), [("receiver.test", True), ("elsewhere.test", False)])
def test_over_tls_the_checked_address_must_prove_the_hosts_name(tmp_path, monkeypatch, certified, accepted):
    cert, key = self_signed(tmp_path, certified)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # the client trusts this certificate only
    with receiving(Reply(200), tls=server_context) as receiver:
        url = receiver.url(host="receiver.test", scheme="https")
        target = webhook_url_target(url, allow_loopback=True, resolve=resolving_to("127.0.0.1"))

        if accepted:
            answer = post_pinned(target=target, body=b"{}", headers={"content-type": "application/json"}, timeout=5)
            assert answer.status == 200
            assert receiver.received[0].headers["host"] == f"receiver.test:{receiver.port}"
        else:
            with pytest.raises(DeliveryError, match=r"CERTIFICATE_VERIFY_FAILED"):
                post_pinned(target=target, body=b"{}", headers={"content-type": "application/json"}, timeout=5)
            assert receiver.received == []
