"""export_codes over a book with a coupon in every state (a redeemed one needs this layer)."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from books.tests.factories import BookFactory
from coupons.models import Coupon
from coupons.services import coupon_assign_code, coupon_lock, coupon_void
from coupons.tests.factories import CouponFactory
from couponsite.actors import Actor
from redemptions.services import coupon_redeem

ACTOR = Actor.system("test")


def export(*args) -> list[list[str]]:
    stdout = io.StringIO()
    call_command("export_codes", *args, stdout=stdout)
    return list(csv.reader(io.StringIO(stdout.getvalue())))


@pytest.fixture
def book_in_every_state(db):
    book = BookFactory(max_redemptions_per_coupon=2)
    partner = book.partner
    for code in ["AVAIL", "HELD", "LOCKED", "EXPIRED", "USED", "GONE"]:
        CouponFactory(book=book, code=code)
    for code in ["HELD", "LOCKED", "EXPIRED", "USED"]:
        coupon_assign_code(partner=partner, code=code, user_id=f"user-{code}", actor=ACTOR)
    coupon_lock(partner=partner, code="LOCKED", user_id="user-LOCKED", actor=ACTOR)
    coupon_lock(partner=partner, code="EXPIRED", user_id="user-EXPIRED", actor=ACTOR)
    Coupon.objects.filter(code="EXPIRED").update(locked_until=timezone.now() - timedelta(seconds=1))
    coupon_redeem(partner=partner, code="USED", user_id="user-USED", actor=ACTOR)
    coupon_redeem(partner=partner, code="USED", user_id="user-USED", actor=ACTOR)
    coupon_void(coupon=Coupon.objects.get(code="GONE"), actor=ACTOR)
    return book


def test_export_codes_writes_every_coupon_with_its_effective_state(book_in_every_state):
    rows = export("--book", book_in_every_state.pk)

    assert rows[0] == ["code", "state", "user_id", "assigned_at", "redemption_count"]
    by_code = {row[0]: row for row in rows[1:]}
    assert {code: row[1] for code, row in by_code.items()} == {
        "AVAIL": "available",
        "HELD": "assigned",
        "LOCKED": "locked",
        "EXPIRED": "assigned",
        "USED": "redeemed",
        "GONE": "void",
    }
    assert by_code["AVAIL"][2:] == ["", "", "0"]
    assert by_code["USED"][2] == "user-USED"
    assert by_code["USED"][4] == "2"
    held = Coupon.objects.get(code="HELD")
    assert by_code["HELD"][3] == held.assigned_at.isoformat()


@pytest.mark.parametrize(
    ("state", "codes"),
    [
        ("assigned", ["EXPIRED", "HELD"]),
        ("locked", ["LOCKED"]),
        ("available", ["AVAIL"]),
        ("void", ["GONE"]),
    ],
)
def test_export_codes_filters_by_effective_state(book_in_every_state, state, codes):
    rows = export("--book", book_in_every_state.pk, "--state", state)

    assert sorted(row[0] for row in rows[1:]) == codes
