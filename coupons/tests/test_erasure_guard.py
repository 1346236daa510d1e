"""The audit trail stays append-only around the erasure: the database lets
through exactly the rewrite ``coupons.erasure.events_erase`` announces, and
refuses every other UPDATE or DELETE of an event, announced or not."""

import json

import pytest
from django.db import IntegrityError, connection, transaction

from books.tests.factories import BookFactory
from coupons.erasure import erased_value, erasure_pseudonym, events_erase
from coupons.models import CouponEvent
from coupons.services import coupon_assign_code, coupon_set_metadata
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


@pytest.fixture
def event() -> CouponEvent:
    book = BookFactory()
    (coupon,) = make_coupons(book, 1)
    coupon_set_metadata(partner=book.partner, code=coupon.code, metadata={"owner": "alice"})
    coupon_assign_code(partner=book.partner, code=coupon.code, user_id="alice", actor=ACTOR)
    return CouponEvent.objects.get(coupon=coupon)


def announce(*, partner_id: int, user_id: str = "alice", pseudonym: str | None = None) -> str:
    pseudonym = pseudonym or erasure_pseudonym()
    erasure = json.dumps({"partner_id": partner_id, "user_id": user_id, "pseudonym": pseudonym})
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('coupons.erasure', %s, true)", [erasure])
    return pseudonym


def refused(sql: str, parameters: list | dict) -> None:
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, parameters)


def test_the_erasure_rewrites_the_user_in_the_event_and_its_snapshot(event):
    pseudonym = erasure_pseudonym()
    with transaction.atomic():
        changed = events_erase(
            partner=event.partner, coupon_ids=[event.coupon_id], user_id="alice", pseudonym=pseudonym
        )

    event.refresh_from_db()
    assert changed == 1
    assert event.user_id == event.data["user_id"] == event.data["metadata"]["owner"] == pseudonym


def test_an_ordinary_update_or_delete_is_still_refused_after_an_erasure_in_the_same_transaction(event):
    with transaction.atomic():
        events_erase(
            partner=event.partner, coupon_ids=[event.coupon_id], user_id="alice", pseudonym=erasure_pseudonym()
        )
        refused("UPDATE coupons_couponevent SET actor_id = 'forged' WHERE id = %s", [event.pk])
        refused("UPDATE coupons_couponevent SET user_id = 'mallory' WHERE id = %s", [event.pk])


@pytest.mark.parametrize(
    ("assignment", "why"),
    [
        ("user_id = %(pseudonym)s, actor_id = 'forged'", "another column changed too"),
        ("user_id = %(pseudonym)s", "the snapshot left naming the user"),
        ("user_id = 'mallory', data = coupons_erased_json(data, 'alice', 'mallory')", "not the announced name"),
        ("data = '{}'::jsonb", "the snapshot replaced, not erased"),
    ],
)
def test_an_announced_erasure_lets_through_nothing_but_itself(event, assignment, why):
    update = "UPDATE coupons_couponevent SET {assignment} WHERE id = %(id)s"
    with transaction.atomic():
        pseudonym = announce(partner_id=event.partner_id)
        refused(update.format(assignment=assignment), {"id": event.pk, "pseudonym": pseudonym})


def test_an_announcement_for_another_partner_or_with_a_name_of_ones_choosing_is_refused(event):
    erase = (
        "UPDATE coupons_couponevent SET user_id = %(p)s, data = coupons_erased_json(data, 'alice', %(p)s)"
        " WHERE id = %(id)s"
    )
    with transaction.atomic():
        pseudonym = announce(partner_id=event.partner_id + 1)
        refused(erase, {"p": pseudonym, "id": event.pk})
    with transaction.atomic():
        announce(partner_id=event.partner_id, pseudonym="bob")
        refused(erase, {"p": "bob", "id": event.pk})


def test_a_delete_is_refused_even_under_an_announcement(event):
    with transaction.atomic():
        announce(partner_id=event.partner_id)
        refused("DELETE FROM coupons_couponevent WHERE id = %s", [event.pk])


def test_the_erasure_withdraws_its_announcement_once_done(event):
    with transaction.atomic():
        events_erase(
            partner=event.partner, coupon_ids=[event.coupon_id], user_id="alice", pseudonym=erasure_pseudonym()
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('coupons.erasure', true)")
            assert cursor.fetchone()[0] == ""
        refused("UPDATE coupons_couponevent SET user_id = %s WHERE id = %s", [erasure_pseudonym(), event.pk])


def test_a_json_value_loses_every_string_and_key_equal_to_the_id_and_keeps_the_rest():
    value = {"alice": ["alice", "my alice", 1], "user_id": "alice", "n": None, "alicex": {"x": "Alice"}}
    assert erased_value(value, erased="alice", pseudonym="P") == {
        "P": ["P", "my alice", 1],
        "user_id": "P",
        "n": None,
        "alicex": {"x": "Alice"},
    }


@pytest.mark.parametrize(
    "value",
    [
        None,
        "alice",
        "alicex",
        ["alice", "bob", 1, None, True, 1.5],
        {"alice": "alice", "user_id": "alice", "nested": [{"x": "alice"}, "my alice"], "n": None},
        {"a": {"b": {"c": ["alice"]}}, "alice": {}},
        {"unicode é": "é alice", "alice": []},
    ],
)
def test_the_python_and_sql_erasures_of_a_json_value_agree(value):
    with connection.cursor() as cursor:
        cursor.execute("SELECT coupons_erased_json(%s::jsonb, 'alice', 'erased-x')", [json.dumps(value)])
        from_sql = cursor.fetchone()[0]
    in_python = erased_value(value, erased="alice", pseudonym="erased-x")
    assert (json.loads(from_sql) if from_sql is not None else None) == in_python
