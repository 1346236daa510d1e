import pytest
from django.urls import reverse

from books.tests.admin_helpers import client_for, staff_user
from books.tests.factories import BookFactory
from coupons.services import coupon_assign_code
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from couponsite.roles import SUPPORT
from redemptions.models import Redemption
from redemptions.services import coupon_redeem, redemption_rollback

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:redemptions_redemption_changelist"
ACTOR = Actor.system("test")


def redeemed(*, metadata=None, user_id="u1", book=None) -> Redemption:
    book = book or BookFactory(max_redemptions_per_coupon=None)
    coupon = make_coupons(book, 1, prefix=f"R{Redemption.objects.count()}-")[0]
    coupon_assign_code(partner=book.partner, code=coupon.code, user_id=user_id, actor=ACTOR)
    _, redemption = coupon_redeem(
        partner=book.partner, code=coupon.code, user_id=user_id, metadata=metadata, actor=ACTOR
    )
    return redemption


def test_redemptions_are_read_only():
    redemption = redeemed()
    client = client_for(staff_user())

    assert client.get(reverse("admin:redemptions_redemption_add")).status_code == 403
    delete_url = reverse("admin:redemptions_redemption_delete", args=[redemption.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    page = client.get(reverse("admin:redemptions_redemption_change", args=[redemption.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()


def test_redemptions_filter_by_rollback_and_book_and_search_by_code_or_user():
    kept = redeemed(user_id="alice")
    undone = redeemed(user_id="bob")
    redemption_rollback(partner=undone.coupon.partner, redemption_id=undone.pk, reason="refund", actor=ACTOR)
    client = client_for(staff_user(role=SUPPORT))

    def listed(**params) -> list[Redemption]:
        return list(client.get(reverse(CHANGELIST), params).context["cl"].result_list)

    assert listed(rolled_back="no") == [kept]
    assert listed(rolled_back="yes") == [undone]
    assert listed(coupon__book__id__exact=kept.coupon.book_id) == [kept]
    assert listed(q=kept.coupon.code.lower()) == [kept]
    assert listed(q="bob") == [undone]
    day = kept.created_at
    assert len(listed(created_at__year=day.year, created_at__month=day.month)) == 2
