"""The feed says how far back it reaches (``retention_days``,
``available_since``), and a poller whose ``after`` the retention purge has
overtaken is told so (``410 events_expired``) when it missed events, and goes
on when it missed none. Real commits (``transaction=True``): the feed shows
only events no running transaction can precede."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from api.tests.conftest import assert_problem, make_tenant
from api.tests.test_events_feed import ids, poll
from coupons.events import snapshot_time
from coupons.models import Coupon, CouponEvent, EventPurge
from coupons.retention import events_purge
from coupons.services import coupon_assign_code
from coupons.tests.factories import BookEventFactory, clock_at, days_ago
from couponsite.actors import Actor
from redemptions.models import Redemption
from redemptions.services import coupon_redeem

pytestmark = pytest.mark.django_db(transaction=True)

SETUP = Actor.system("test")


@pytest.fixture(autouse=True)
def _retention(settings):
    settings.EVENT_RETENTION_DAYS = 400


def purge():
    return events_purge(now=days_ago(0))


def test_every_page_says_how_long_events_are_kept_and_how_far_back_the_feed_reaches(settings):
    tenant = make_tenant()
    BookEventFactory(book=tenant.book)

    before_any_purge = poll(tenant, expect=1)
    purge()
    after_a_purge = poll(tenant, expect=1)
    settings.EVENT_RETENTION_DAYS = None
    kept_forever = poll(tenant, expect=1)

    assert (before_any_purge["retention_days"], before_any_purge["available_since"]) == (400, None)
    (run,) = EventPurge.objects.all()
    assert after_a_purge["available_since"] == snapshot_time(run.before)
    assert (kept_forever["retention_days"], kept_forever["available_since"]) == (None, snapshot_time(run.before))
    assert set(after_a_purge) == {"next", "results", "retention_days", "available_since"}


def test_a_poller_that_kept_up_goes_on_when_its_last_event_is_purged():
    tenant = make_tenant()
    old = [BookEventFactory(book=tenant.book, created_at=days_ago(500)) for _ in range(2)]
    seen = poll(tenant, expect=2)
    assert ids(seen) == [event.pk for event in old]

    purge()
    caught_up = poll(tenant, after=old[-1].pk)
    new = BookEventFactory(book=tenant.book)
    going_on = poll(tenant, after=old[-1].pk, expect=1)

    assert caught_up["results"] == []
    assert ids(going_on) == [new.pk]


def test_a_poller_that_fell_behind_is_told_its_unread_events_are_gone_and_starts_again_from_the_oldest_kept():
    tenant = make_tenant()
    read, unread = (BookEventFactory(book=tenant.book, created_at=days_ago(days)) for days in (600, 500))
    kept = BookEventFactory(book=tenant.book)
    assert ids(poll(tenant, expect=3))[:1] == [read.pk]

    purge()
    refused = tenant.client.get("/api/v1/events", {"after": read.pk})
    again = poll(tenant, expect=1)

    body = assert_problem(refused, 410, "events_expired")
    assert "deleted" in body["detail"]
    assert not CouponEvent.objects.filter(pk__in=[read.pk, unread.pk]).exists()
    assert ids(again) == [kept.pk]


def test_a_poller_whose_last_event_is_kept_is_told_when_a_later_unread_one_is_gone():
    tenant = make_tenant()
    last_read = BookEventFactory(book=tenant.book)  # recent, so kept
    later_but_old = BookEventFactory(book=tenant.book, created_at=days_ago(500))  # a later transaction
    assert ids(poll(tenant, expect=2)) == [last_read.pk, later_but_old.pk]

    purge()

    assert_problem(tenant.client.get("/api/v1/events", {"after": last_read.pk}), 410, "events_expired")


def test_another_partners_purge_changes_nothing_for_this_one_and_a_stranger_id_stays_a_400():
    tenant, other = make_tenant(), make_tenant()
    theirs = BookEventFactory(book=other.book, created_at=days_ago(500))
    mine = BookEventFactory(book=tenant.book)
    assert ids(poll(tenant, expect=1)) == [mine.pk]

    purge()

    assert poll(tenant, after=mine.pk)["results"] == []
    assert_problem(tenant.client.get("/api/v1/events", {"after": theirs.pk}), 400, "validation_error")
    beyond = CouponEvent.objects.order_by("-id").values_list("id", flat=True).first() + 1000
    assert_problem(tenant.client.get("/api/v1/events", {"after": beyond}), 400, "validation_error")


def test_a_coupons_history_starts_at_its_oldest_kept_event_and_the_coupon_stays_whole():
    tenant = make_tenant(max_redemptions_per_coupon=2)
    code = tenant.coupons()[0].code
    with clock_at(days_ago(500)):
        coupon_assign_code(partner=tenant.partner, code=code, user_id="u1", actor=SETUP)
        coupon_redeem(partner=tenant.partner, code=code, user_id="u1", actor=SETUP)
    coupon_redeem(partner=tenant.partner, code=code, user_id="u1", actor=SETUP)

    purge()
    history = tenant.client.get(f"/api/v1/coupons/{code}/history").json()["results"]

    assert [event["action"] for event in history] == ["redeem"]
    coupon = Coupon.objects.get(code=code)
    assert (coupon.state, coupon.user_id, coupon.redemption_count) == ("redeemed", "u1", 2)
    assert Redemption.objects.filter(coupon=coupon).count() == 2


def test_the_schema_describes_the_feeds_reach_and_the_expired_after():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    page = schema["components"]["schemas"]["EventPage"]
    operation = schema["paths"]["/api/v1/events"]["get"]

    assert {"retention_days", "available_since"} <= set(page["required"])
    assert page["properties"]["retention_days"]["type"] == "integer"
    assert page["properties"]["retention_days"]["nullable"] is True
    assert page["properties"]["available_since"] == {
        "type": "string",
        "format": "date-time",
        "nullable": True,
        "description": page["properties"]["available_since"]["description"],
    }
    assert "410" in operation["responses"]
    assert "events_expired" in str(operation["responses"]["410"])
    (example,) = operation["responses"]["200"]["content"]["application/json"]["examples"].values()
    assert {"retention_days", "available_since"} <= set(example["value"])
