"""GET /api/v1/events: the partner's events, oldest first, followed with
``after``. The feed shows only events no running transaction can precede, so
these tests commit for real (``transactional_db``): inside one test
transaction nothing would ever show."""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection, transaction

from api.tests.conftest import assert_problem, make_tenant, post
from coupons.models import CouponEvent
from coupons.services import coupon_assign_random, coupon_lock, coupon_void
from couponsite.actors import Actor

pytestmark = pytest.mark.django_db(transaction=True)

SETUP = Actor.system("test")
# The horizon is the server's oldest running transaction: a long test of the
# other xdist worker (its own test transaction) holds the feed back meanwhile.
HORIZON_WAIT_SECONDS = 250


def poll(tenant, *, expect: int = 0, **query) -> dict:
    """A page of the feed; with ``expect``, polled again until it holds that
    many events (see ``HORIZON_WAIT_SECONDS``)."""
    deadline = time.monotonic() + HORIZON_WAIT_SECONDS
    while True:
        response = tenant.client.get("/api/v1/events", query)
        assert response.status_code == 200, response.content[:500]
        page = response.json()
        if len(page["results"]) >= expect or time.monotonic() > deadline:
            return page
        time.sleep(0.05)


def ids(page: dict) -> list[int]:
    return [event["id"] for event in page["results"]]


def test_feed_shows_each_change_with_the_coupon_as_the_api_showed_it():
    tenant = make_tenant()
    assert post(tenant.client, f"/api/v1/books/{tenant.book.pk}/codes/generate", {"count": 3}).status_code == 201
    assigned = post(tenant.client, "/api/v1/coupons/assign", {"book_id": tenant.book.pk, "user_id": "u1"}).json()
    code = assigned["code"]
    locked = post(tenant.client, f"/api/v1/coupons/lock/{code}", {"user_id": "u1"}).json()
    redeemed = post(
        tenant.client,
        f"/api/v1/coupons/redeem/{code}",
        {"user_id": "u1", "lock_id": locked["lock_id"], "metadata": {"order": "A-1"}},
    ).json()
    rolled_back = post(tenant.client, f"/api/v1/redemptions/{redeemed['redemption']['id']}/rollback").json()

    events = poll(tenant, expect=5)["results"]

    assert [event["type"] for event in events] == [
        "book.codes_added",
        "coupon.assigned",
        "coupon.locked",
        "coupon.redeemed",
        "coupon.redemption_rolled_back",
    ]
    assert events[0]["data"] == {"book_id": tenant.book.pk, "count": 3, "method": "generate"}
    assert events[1]["data"] == assigned
    assert events[2]["data"] == {key: value for key, value in locked.items() if key != "lock_id"}
    redemption = events[3]["data"].pop("redemption")
    assert events[3]["data"] == {key: value for key, value in redeemed.items() if key != "redemption"}
    assert redemption["id"] == redeemed["redemption"]["id"]
    assert redemption["created_at"] == redeemed["redemption"]["created_at"]
    assert (redemption["metadata"], redemption["rolled_back_at"]) == ({"order": "A-1"}, None)
    rollback = events[4]["data"].pop("redemption")
    assert events[4]["data"] == rolled_back
    assert rollback["id"] == redeemed["redemption"]["id"] and rollback["rolled_back_at"] is not None
    assert set(events[0]) == {"id", "type", "created_at", "data"}


def test_feed_continues_after_the_last_event_seen_and_never_repeats_one():
    tenant = make_tenant()
    for user in ("u1", "u2", "u3"):
        coupon_assign_random(partner=tenant.partner, book_id=tenant.book.pk, user_id=user, actor=SETUP)

    first = poll(tenant, page_size=2, expect=2)
    rest = poll(tenant, after=ids(first)[-1], page_size=2, expect=1)
    again = poll(tenant, after=ids(rest)[-1])

    assert len(ids(first)) == 2
    assert parse_qs(urlsplit(first["next"]).query) == {"after": [str(ids(first)[-1])], "page_size": ["2"]}
    assert len(ids(rest)) == 1 and rest["next"] is None
    assert again["results"] == []
    assert sorted(ids(first) + ids(rest)) == sorted(CouponEvent.objects.values_list("id", flat=True))


def test_feed_filters_by_type_and_book():
    tenant = make_tenant()
    second_book = post(tenant.client, "/api/v1/books", {"name": "Second"}).json()
    post(tenant.client, f"/api/v1/books/{second_book['id']}/codes/upload", {"codes": ["SECOND-1", "SECOND-2"]})
    coupon = coupon_assign_random(partner=tenant.partner, book_id=tenant.book.pk, user_id="u1", actor=SETUP)
    coupon_void(coupon=coupon, actor=Actor.staff(1))

    voided = poll(tenant, type="coupon.voided", expect=1)["results"]
    added = poll(tenant, book_id=second_book["id"], expect=1)["results"]
    both = poll(tenant, type=["coupon.voided", "coupon.assigned"], expect=2)["results"]

    assert [(e["type"], e["data"]["code"], e["data"]["state"]) for e in voided] == [
        ("coupon.voided", coupon.code, "void")
    ]
    assert [(e["type"], e["data"]) for e in added] == [
        ("book.codes_added", {"book_id": second_book["id"], "count": 2, "method": "upload"})
    ]
    assert [e["type"] for e in both] == ["coupon.assigned", "coupon.voided"]
    assert_problem(tenant.client.get("/api/v1/events", {"type": "coupon.exploded"}), 400, "validation_error")


def test_audit_only_records_stay_out_of_the_feed():
    tenant = make_tenant()
    assert tenant.client.patch(f"/api/v1/books/{tenant.book.pk}", {"name": "Renamed"}, format="json").status_code == 200
    coupon_assign_random(partner=tenant.partner, book_id=tenant.book.pk, user_id="u1", actor=SETUP)

    assert CouponEvent.objects.filter(action="book_updated", book=tenant.book).count() == 1
    assert [event["type"] for event in poll(tenant, expect=1)["results"]] == ["coupon.assigned"]


def test_a_partner_sees_only_its_own_events():
    tenant, other = make_tenant(), make_tenant()
    coupon_assign_random(partner=tenant.partner, book_id=tenant.book.pk, user_id="u1", actor=SETUP)
    coupon_assign_random(partner=other.partner, book_id=other.book.pk, user_id="u1", actor=SETUP)
    (theirs,) = CouponEvent.objects.filter(partner=other.partner)

    mine = poll(tenant, expect=1)["results"]
    assert len(poll(other, expect=1)["results"]) == 1

    assert [event["data"]["book_id"] for event in mine] == [tenant.book.pk]
    assert poll(tenant, book_id=other.book.pk)["results"] == []
    # Another partner's event id is refused exactly like one that does not exist.
    unknown = CouponEvent.objects.order_by("-id").values_list("id", flat=True).first() + 1000
    for after in (theirs.pk, unknown):
        body = assert_problem(tenant.client.get("/api/v1/events", {"after": after}), 400, "validation_error")
        assert body["errors"] == [
            {"field": "after", "detail": "after must be the id of one of your events from this feed."}
        ]


class Writer(threading.Thread):
    """A transaction on its own connection, held open at the points the test
    chooses: ``steps`` run in order inside one atomic block, each waiting for
    its go and reporting when it is done."""

    def __init__(self, *steps):
        super().__init__(daemon=True)
        self.steps = steps
        self.go = [threading.Event() for _ in steps]
        self.done = [threading.Event() for _ in steps]
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with transaction.atomic():
                for step, go, done in zip(self.steps, self.go, self.done, strict=True):
                    assert go.wait(HORIZON_WAIT_SECONDS)
                    step()
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT 1")  # sends what the step queued
                    done.set()
        except Exception as error:  # noqa: BLE001 - reported by the test
            self.error = error
            for done in self.done:
                done.set()
        finally:
            connection.close()

    def step(self, index: int) -> None:
        self.go[index].set()
        assert self.done[index].wait(HORIZON_WAIT_SECONDS) and self.error is None, self.error


def take_transaction_id() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()")


def test_an_event_committed_after_a_later_one_is_not_skipped():
    """The slow transaction writes event n and stays open; another writes n+1
    and commits. A poll then must not hand out n+1 past n: here the feed holds
    n+1 back until n is committed, then gives both, n first."""
    tenant = make_tenant()
    first, second = (
        coupon_assign_random(partner=tenant.partner, book_id=tenant.book.pk, user_id=user, actor=SETUP)
        for user in ("u1", "u2")
    )
    seen = ids(poll(tenant, expect=2))
    slow = Writer(lambda: coupon_lock(partner=tenant.partner, code=first.code, user_id="u1", actor=SETUP), lambda: None)
    slow.start()
    slow.step(0)
    coupon_lock(partner=tenant.partner, code=second.code, user_id="u2", actor=SETUP)  # commits at once
    fast_event = CouponEvent.objects.get(coupon=second, action="lock").pk

    while_open = poll(tenant, after=seen[-1])
    slow.step(1)
    slow.join(10)
    slow_event = CouponEvent.objects.get(coupon=first, action="lock").pk
    after_commit = poll(tenant, after=seen[-1], expect=2)

    assert slow_event < fast_event  # ids in one order, commits in the other
    assert while_open["results"] == []
    assert ids(after_commit) == [slow_event, fast_event]


def test_an_event_with_the_lower_id_but_the_later_transaction_is_not_skipped():
    """The harder order: the transaction that commits first began first (its
    transaction id is lower) but wrote its event after the slow one wrote
    its own. Its event is handed out at once; the slow one's, with the lower
    id, must still come once it commits, to a client polling after the first."""
    tenant = make_tenant()
    first, second = (
        coupon_assign_random(partner=tenant.partner, book_id=tenant.book.pk, user_id=user, actor=SETUP)
        for user in ("u1", "u2")
    )
    seen = ids(poll(tenant, expect=2))
    early = Writer(
        take_transaction_id, lambda: coupon_lock(partner=tenant.partner, code=second.code, user_id="u2", actor=SETUP)
    )
    slow = Writer(lambda: coupon_lock(partner=tenant.partner, code=first.code, user_id="u1", actor=SETUP), lambda: None)
    early.start()
    slow.start()
    early.step(0)  # the early transaction has its id
    slow.step(0)  # the slow one writes its event (the lower event id) and stays open
    early.step(1)  # the early one writes its event (the higher id) ...
    early.join(10)  # ... and commits
    slow_event = CouponEvent.objects.filter(coupon=first, action="lock").values_list("pk", flat=True)
    early_event = CouponEvent.objects.get(coupon=second, action="lock").pk

    while_open = poll(tenant, after=seen[-1], expect=1)
    slow.step(1)
    slow.join(10)
    (slow_event,) = list(slow_event)
    after_it = poll(tenant, after=ids(while_open)[-1], expect=1)

    assert slow_event < early_event
    assert ids(while_open) == [early_event]
    assert ids(after_it) == [slow_event]
    assert early.error is None and slow.error is None


@pytest.mark.races
def test_a_poller_following_after_sees_every_event_once_under_concurrent_writers():
    tenant = make_tenant()
    post(tenant.client, f"/api/v1/books/{tenant.book.pk}/codes/generate", {"count": 60})
    stop = threading.Event()
    deadline = time.monotonic() + HORIZON_WAIT_SECONDS
    seen: list[int] = []

    def assign_all(worker: int) -> None:
        try:
            for n in range(15):
                coupon_assign_random(
                    partner=tenant.partner, book_id=tenant.book.pk, user_id=f"w{worker}-{n}", actor=SETUP
                )
        finally:
            connection.close()

    def follow() -> None:
        after = None
        try:
            while not (stop.is_set() and len(seen) >= 61) and time.monotonic() < deadline:
                page = poll(tenant, **({"after": after} if after else {}), page_size=7)
                seen.extend(ids(page))
                after = seen[-1] if seen else None
            # Once all is seen, nothing more may come.
            seen.extend(ids(poll(tenant, after=after)))
        finally:
            connection.close()

    writers = [threading.Thread(target=assign_all, args=(worker,)) for worker in range(4)]
    poller = threading.Thread(target=follow)
    poller.start()
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    stop.set()
    poller.join(HORIZON_WAIT_SECONDS + 30)

    everything = list(
        CouponEvent.objects.filter(partner=tenant.partner).exclude(action="book_updated").values_list("id", flat=True)
    )
    assert len(everything) == 61  # the codes added and 60 assignments
    assert len(seen) == len(set(seen)) == 61
    assert set(seen) == set(everything)
