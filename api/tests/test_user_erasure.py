"""POST /api/v1/users/{user_id}/erase: the partner's end user disappears from
every row that names it, a pseudonym in its place; the API's own records
(stored idempotent answers, failed look-up counts) forget it too."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings

from api.models import IdempotencyKey, RateCounter
from api.tests.conftest import REDIS_URL, assert_problem, make_tenant, post, redis_available
from api.tests.test_events_feed import poll
from api.throttles import _lookup_name
from coupons.event_types import EventAction
from coupons.models import Coupon, CouponEvent
from redemptions.models import Redemption

ERASED = {"coupons": 1, "events": 3, "redemptions": 1}
PSEUDONYM = re.compile(r"erased-[0-9a-f]{32}")


def erase(tenant, user_id: str = "alice", **headers):
    return post(tenant.client, f"/api/v1/users/{user_id}/erase", **headers)


def assigned_and_redeemed(tenant, user_id: str = "alice", **headers) -> dict:
    coupon = post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": user_id}, **headers)
    assert coupon.status_code == 201, coupon.content
    code = coupon.json()["code"]
    locked = post(tenant.client, f"/api/v1/coupons/lock/{code}", {"user_id": user_id}).json()
    redeemed = post(
        tenant.client,
        f"/api/v1/coupons/redeem/{code}",
        {"user_id": user_id, "lock_id": locked["lock_id"], "metadata": {"customer": user_id}},
    )
    assert redeemed.status_code == 200, redeemed.content
    return redeemed.json()


def erasure_event(tenant) -> CouponEvent:
    return CouponEvent.objects.get(partner=tenant.partner, action=EventAction.USER_ERASED)


@pytest.mark.django_db
def test_the_answer_counts_what_changed_and_the_reads_show_the_pseudonym(tenant):
    redeemed = assigned_and_redeemed(tenant)

    response = erase(tenant)

    assert response.status_code == 200, response.content
    assert response.json() == ERASED
    pseudonym = erasure_event(tenant).user_id
    assert PSEUDONYM.fullmatch(pseudonym)
    coupon = tenant.client.get(f"/api/v1/coupons/{redeemed['code']}").json()
    assert (coupon["user_id"], coupon["state"], coupon["redemption_count"]) == (pseudonym, "redeemed", 1)
    history = tenant.client.get(f"/api/v1/coupons/{redeemed['code']}/history").json()["results"]
    assert [event["user_id"] for event in history] == [pseudonym] * 3
    redemption = tenant.client.get(f"/api/v1/redemptions/{redeemed['redemption']['id']}").json()
    assert (redemption["user_id"], redemption["metadata"]) == (pseudonym, {"customer": pseudonym})
    assert tenant.client.get("/api/v1/users/alice/coupons").json()["results"] == []
    assert len(tenant.client.get(f"/api/v1/users/{pseudonym}/coupons").json()["results"]) == 1


@pytest.mark.django_db
def test_a_user_with_nothing_to_erase_answers_zeros(tenant):
    response = erase(tenant, "never-seen")

    assert response.status_code == 200
    assert response.json() == {"coupons": 0, "events": 0, "redemptions": 0}


@pytest.mark.django_db
def test_another_partners_user_of_the_same_id_keeps_its_rows(tenant, other):
    assigned_and_redeemed(tenant)
    theirs = assigned_and_redeemed(other)

    assert erase(tenant).json() == ERASED

    assert Coupon.objects.get(partner=other.partner, code=theirs["code"]).user_id == "alice"
    assert Redemption.objects.get(pk=theirs["redemption"]["id"]).user_id == "alice"
    assert CouponEvent.objects.filter(partner=other.partner, user_id="alice").count() == 3
    assert not CouponEvent.objects.filter(partner=other.partner, action=EventAction.USER_ERASED).exists()


@pytest.mark.django_db
def test_a_retry_with_the_key_replays_the_answer_and_erases_nothing_more(tenant):
    assigned_and_redeemed(tenant)

    first = erase(tenant, HTTP_IDEMPOTENCY_KEY="erase-1")
    assigned_and_redeemed(tenant)  # a new user of the same id
    again = erase(tenant, HTTP_IDEMPOTENCY_KEY="erase-1")

    assert again.status_code == 200
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert CouponEvent.objects.filter(action=EventAction.USER_ERASED).count() == 1
    assert Coupon.objects.filter(partner=tenant.partner, user_id="alice").count() == 1
    # The stored answer keeps the path's template, not the id.
    stored = IdempotencyKey.objects.get(partner=tenant.partner, key="erase-1")
    assert stored.path == "/api/v1/users/{user_id}/erase"
    assert "alice" not in stored.response_body


@pytest.mark.django_db
def test_stored_answers_that_named_the_user_name_the_pseudonym_and_their_retry_is_refused(tenant):
    assigned = post(
        tenant.client,
        "/api/v1/coupons/assign",
        {"book_id": tenant.book.pk, "user_id": "alice"},
        **{"HTTP_IDEMPOTENCY_KEY": "assign-1"},
    )
    post(
        tenant.client,
        "/api/v1/coupons/assign",
        {"book_id": tenant.book.pk, "user_id": "bob"},
        **{"HTTP_IDEMPOTENCY_KEY": "assign-2"},
    )
    bobs = IdempotencyKey.objects.get(key="assign-2")

    erase(tenant)

    pseudonym = erasure_event(tenant).user_id
    stored = IdempotencyKey.objects.get(key="assign-1")
    assert "alice" not in stored.response_body
    assert f'"user_id":"{pseudonym}"' in stored.response_body
    assert f'"code":"{assigned.json()["code"]}"' in stored.response_body
    retry = post(
        tenant.client,
        "/api/v1/coupons/assign",
        {"book_id": tenant.book.pk, "user_id": "alice"},
        **{"HTTP_IDEMPOTENCY_KEY": "assign-1"},
    )
    assert_problem(retry, 422, "idempotency_key_reused")
    assert IdempotencyKey.objects.get(key="assign-2").fingerprint == bobs.fingerprint
    assert Coupon.objects.filter(partner=tenant.partner, user_id="alice").count() == 0


@pytest.mark.django_db
@override_settings(FAILED_LOOKUP_LIMIT="2/min")
def test_the_users_failed_lookups_are_forgotten(tenant, whole_window):
    for guess in ("GUESS-1", "GUESS-2", "GUESS-3"):
        post(tenant.client, f"/api/v1/coupons/lock/{guess}", {"user_id": "alice"})
    assert_problem(post(tenant.client, "/api/v1/coupons/lock/GUESS-4", {"user_id": "alice"}), 429, "throttled")
    name = _lookup_name(partner_id=tenant.partner.pk, user_id="alice")
    assert RateCounter.objects.filter(key__startswith=f"rate:{name}:").exists()

    erase(tenant)

    assert not RateCounter.objects.filter(key__startswith=f"rate:{name}:").exists()
    assert_problem(post(tenant.client, "/api/v1/coupons/lock/GUESS-5", {"user_id": "alice"}), 404, "not_found")


@pytest.mark.skipif(not redis_available(), reason="no Redis at 127.0.0.1:6379")
@pytest.mark.django_db(transaction=True)
@override_settings(FAILED_LOOKUP_LIMIT="2/min", REDIS_URL=REDIS_URL)
def test_the_users_failed_lookups_are_forgotten_in_redis_too(whole_window):
    tenant = make_tenant()
    for guess in ("GUESS-1", "GUESS-2", "GUESS-3"):
        post(tenant.client, f"/api/v1/coupons/lock/{guess}", {"user_id": "alice"})
    assert_problem(post(tenant.client, "/api/v1/coupons/lock/GUESS-4", {"user_id": "alice"}), 429, "throttled")

    erase(tenant)

    assert_problem(post(tenant.client, "/api/v1/coupons/lock/GUESS-5", {"user_id": "alice"}), 404, "not_found")


@pytest.mark.django_db
@pytest.mark.parametrize(("path_user_id", "why"), [("x" * 129, "too long"), ("nul%00", "NUL")])
def test_a_user_id_that_is_not_one_is_refused_as_problem_json(tenant, path_user_id, why):
    response = erase(tenant, path_user_id)

    body = assert_problem(response, 400, "validation_error")
    assert body["errors"][0]["field"] == "user_id"
    assert not CouponEvent.objects.filter(action=EventAction.USER_ERASED).exists()


@pytest.mark.django_db
def test_an_id_of_any_characters_the_path_can_carry_is_erased(tenant):
    user_id = "ünï/cøde 42?"
    post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": user_id})

    response = erase(tenant, "%C3%BCn%C3%AF/c%C3%B8de%2042%3F")

    assert response.json() == {"coupons": 1, "events": 1, "redemptions": 0}
    assert not Coupon.objects.filter(user_id=user_id).exists()


@pytest.mark.django_db
def test_only_post_is_allowed(tenant):
    assert_problem(tenant.client.get("/api/v1/users/alice/erase"), 405, "method_not_allowed")


@pytest.mark.django_db(transaction=True)
def test_the_feed_shows_the_pseudonym_in_old_snapshots_and_the_erasure_as_an_event_of_no_book():
    tenant = make_tenant()
    assigned_and_redeemed(tenant)

    assert erase(tenant).status_code == 200

    pseudonym = erasure_event(tenant).user_id
    events = poll(tenant, expect=4)["results"]
    assert [event["type"] for event in events] == [
        "coupon.assigned",
        "coupon.locked",
        "coupon.redeemed",
        "user.erased",
    ]
    assert "alice" not in str(events)
    assert events[2]["data"]["redemption"]["user_id"] == events[2]["data"]["user_id"] == pseudonym
    assert events[3]["data"] == {"user_id": pseudonym, **ERASED}
    assert [e["type"] for e in poll(tenant, type="user.erased")["results"]] == ["user.erased"]
    assert "user.erased" not in [e["type"] for e in poll(tenant, book_id=tenant.book.pk, expect=3)["results"]]
