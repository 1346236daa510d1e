"""Audit M4: the admin's login locks a username out at an address after
ADMIN_LOGIN_FAILURE_LIMIT failures (django-axes), until the cool-off passes
or staff unlock it; behind the proxy the address is the client's."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import F
from django.test import Client, override_settings

from couponsite.client_address import DEFAULT_FORWARDED_ALLOW_IPS
from couponsite.tests.test_settings import django

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
WRONG = "wrong horse battery staple"
OFFICE = "203.0.113.7"
HOME = "198.51.100.9"
ATTACKER = "192.0.2.66"
PROXY = "10.0.0.2"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Each login hashes a password; the tests log in a hundred times."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice():
    return get_user_model().objects.create_user(username="alice", password=PASSWORD, is_staff=True)


@pytest.fixture
def bob():
    return get_user_model().objects.create_user(username="bob", password=PASSWORD, is_staff=True)


def log_in(username: str, password: str, *, peer: str = OFFICE, forwarded_for: str | None = None) -> Client:
    """A browser at ``peer`` (REMOTE_ADDR) posting the admin's login form; its response in ``.answer``."""
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for is not None else {}
    client = Client(REMOTE_ADDR=peer, **headers)
    client.answer = client.post("/admin/login/", {"username": username, "password": password, "next": "/admin/"})
    return client


def logged_in(client: Client) -> bool:
    return client.answer.status_code == 302 and "_auth_user_id" in client.session


def fail_until_locked(username: str, **where: str) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert not logged_in(log_in(username, WRONG, **where))


def test_after_the_failure_limit_the_right_password_is_refused(alice):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in("alice", WRONG).answer.status_code == 200  # the form again, with its error

    assert log_in("alice", WRONG).answer.status_code == 429
    refused = log_in("alice", PASSWORD)

    assert refused.answer.status_code == 429
    assert not logged_in(refused)
    assert b"too many login attempts" in refused.answer.content


def test_fewer_failures_than_the_limit_still_let_the_right_password_in_and_are_forgotten(alice):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in("alice", WRONG)

    assert logged_in(log_in("alice", PASSWORD))
    assert not AccessAttempt.objects.filter(username="alice").exists()


def test_another_user_at_the_same_address_is_not_locked(alice, bob):
    fail_until_locked("alice")

    assert logged_in(log_in("bob", PASSWORD))
    assert not logged_in(log_in("alice", PASSWORD))


def test_the_same_user_at_another_address_is_not_locked(alice):
    fail_until_locked("alice", peer=ATTACKER)

    assert logged_in(log_in("alice", PASSWORD, peer=OFFICE))
    assert not logged_in(log_in("alice", PASSWORD, peer=ATTACKER))


def test_the_lockout_ends_once_the_cool_off_has_passed(alice):
    fail_until_locked("alice")
    last_failure = AccessAttempt.objects.get(username="alice").attempt_time

    AccessAttempt.objects.filter(username="alice").update(attempt_time=last_failure - settings.AXES_COOLOFF_TIME)

    assert logged_in(log_in("alice", PASSWORD))


def test_the_cool_off_counts_from_the_locking_failure_and_attempts_during_it_are_not_counted(alice):
    fail_until_locked("alice")
    almost = settings.AXES_COOLOFF_TIME - timedelta(seconds=30)
    AccessAttempt.objects.filter(username="alice").update(attempt_time=F("attempt_time") - almost)

    assert log_in("alice", WRONG).answer.status_code == 429
    assert not logged_in(log_in("alice", PASSWORD))
    AccessAttempt.objects.filter(username="alice").update(attempt_time=F("attempt_time") - timedelta(seconds=31))

    assert AccessAttempt.objects.get(username="alice").failures_since_start == settings.AXES_FAILURE_LIMIT
    assert logged_in(log_in("alice", PASSWORD))


def test_axes_reset_username_unlocks_the_user(alice):
    fail_until_locked("alice")

    call_command("axes_reset_username", "alice")

    assert logged_in(log_in("alice", PASSWORD))


def test_axes_reset_ip_username_unlocks_the_user_at_that_address_only(alice):
    fail_until_locked("alice", peer=OFFICE)
    fail_until_locked("alice", peer=ATTACKER)

    call_command("axes_reset_ip_username", OFFICE, "alice")

    assert logged_in(log_in("alice", PASSWORD, peer=OFFICE))
    assert not logged_in(log_in("alice", PASSWORD, peer=ATTACKER))


def test_a_superuser_unlocks_a_user_by_deleting_the_access_attempt_in_the_admin(alice):
    fail_until_locked("alice")
    root = get_user_model().objects.create_superuser(username="root", password=PASSWORD)
    admin = Client()
    admin.force_login(root)

    answer = admin.post(
        "/admin/axes/accessattempt/",
        {
            "action": "delete_selected",
            "_selected_action": list(AccessAttempt.objects.filter(username="alice").values_list("pk", flat=True)),
            "post": "yes",
        },
    )

    assert answer.status_code == 302
    assert logged_in(log_in("alice", PASSWORD))


def test_failures_are_logged_at_warning_with_user_and_address_but_never_the_password(alice, caplog):
    caplog.set_level(logging.DEBUG)

    fail_until_locked("alice")

    warnings = [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("axes") and record.levelno == logging.WARNING
    ]
    assert len(warnings) == settings.AXES_FAILURE_LIMIT + 1  # each failure, then the lockout
    assert all('username: "alice"' in line and f'ip_address: "{OFFICE}"' in line for line in warnings)
    assert "Locking out" in warnings[-1]
    assert not [record for record in caplog.records if WRONG in record.getMessage()]
    stored = AccessAttempt.objects.get(username="alice")
    assert WRONG not in stored.post_data
    assert "password=********************" in stored.post_data


@override_settings(FORWARDED_ALLOW_IPS=PROXY)
def test_behind_the_trusted_proxy_each_client_has_its_own_address(alice):
    fail_until_locked("alice", peer=PROXY, forwarded_for=ATTACKER)

    assert AccessAttempt.objects.get(username="alice").ip_address == ATTACKER
    assert not logged_in(log_in("alice", PASSWORD, peer=PROXY, forwarded_for=ATTACKER))
    assert logged_in(log_in("alice", PASSWORD, peer=PROXY, forwarded_for=OFFICE))


@override_settings(FORWARDED_ALLOW_IPS=PROXY)
def test_through_the_proxy_an_address_the_client_wrote_itself_is_ignored(alice):
    # nginx appends the address it saw to whatever X-Forwarded-For the client sent.
    fail_until_locked("alice", peer=PROXY, forwarded_for=f"{OFFICE}, {ATTACKER}")

    assert AccessAttempt.objects.get(username="alice").ip_address == ATTACKER
    assert logged_in(log_in("alice", PASSWORD, peer=PROXY, forwarded_for=OFFICE))


@override_settings(FORWARDED_ALLOW_IPS=PROXY)
def test_a_client_that_is_not_the_proxy_cannot_frame_another_address(alice):
    fail_until_locked("alice", peer=ATTACKER, forwarded_for=OFFICE)

    assert AccessAttempt.objects.get(username="alice").ip_address == ATTACKER
    assert logged_in(log_in("alice", PASSWORD, peer=PROXY, forwarded_for=OFFICE))


@override_settings(FORWARDED_ALLOW_IPS=PROXY)
def test_a_client_that_is_not_the_proxy_cannot_escape_its_lockout_with_a_new_forwarded_address(alice):
    for spoofed in range(settings.AXES_FAILURE_LIMIT):  # a new address each time
        log_in("alice", WRONG, peer=ATTACKER, forwarded_for=f"198.51.100.{spoofed}")

    assert not logged_in(log_in("alice", PASSWORD, peer=ATTACKER, forwarded_for=HOME))


@override_settings(FORWARDED_ALLOW_IPS=DEFAULT_FORWARDED_ALLOW_IPS)
def test_with_the_default_proxy_list_a_remote_client_is_known_by_its_own_address(alice):
    fail_until_locked("alice", peer=ATTACKER, forwarded_for=OFFICE)

    assert not logged_in(log_in("alice", PASSWORD, peer=ATTACKER, forwarded_for=HOME))
    assert logged_in(log_in("alice", PASSWORD, peer=OFFICE))


def test_the_limit_and_the_cool_off_come_from_the_environment():
    result = django(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME)",
        DJANGO_ENV="test",
        ADMIN_LOGIN_FAILURE_LIMIT="3",
        ADMIN_LOGIN_COOLOFF_MINUTES="90",
    )

    assert result.stdout.splitlines()[-1] == "3 1:30:00"
