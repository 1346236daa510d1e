"""The book page's pictures: coupons by state and redemptions per day."""

import pytest
from django.urls import reverse

from books.tests.admin_helpers import client_for, staff_user
from books.tests.factories import BookFactory
from coupons.services import coupon_assign_code
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from couponsite.roles import SUPPORT
from redemptions.services import coupon_redeem

pytestmark = pytest.mark.django_db


def test_book_page_shows_state_counts_as_a_picture_and_a_table():
    book = BookFactory()
    make_coupons(book, 3)
    coupon_assign_code(partner=book.partner, code=f"C{book.pk}-0000000", user_id="u1", actor=Actor.system("test"))
    client = client_for(staff_user(role=SUPPORT))

    response = client.get(reverse("admin:books_book_change", args=[book.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert '<svg class="book-chart state-bar" role="img"' in page
    assert "3 coupons: available 2, assigned 1, locked 0, redeemed 0, void 0.</desc>" in page
    rows = {row["state"]: row["count"] for row in response.context["state_rows"]}
    assert rows == {"available": 2, "assigned": 1, "locked": 0, "redeemed": 0, "void": 0}
    assert '<svg class="book-chart redemptions-chart"' in page
    assert '<script src="http' not in page


def test_book_page_counts_todays_redemption_in_the_daily_chart():
    book = BookFactory()
    make_coupons(book, 1)
    code = f"C{book.pk}-0000000"
    actor = Actor.system("test")
    coupon_assign_code(partner=book.partner, code=code, user_id="u1", actor=actor)
    coupon_redeem(partner=book.partner, code=code, user_id="u1", actor=actor)
    client = client_for(staff_user())

    response = client.get(reverse("admin:books_book_change", args=[book.pk]))

    rows = response.context["redemptions_rows"]
    assert len(rows) == 30
    assert rows[-1][1] == "1"
    assert "1 redemption from" in response.content.decode()
