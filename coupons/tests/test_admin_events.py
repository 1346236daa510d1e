import pytest
from django.urls import reverse

from books.tests.admin_helpers import client_for, staff_user
from books.tests.factories import BookFactory
from coupons.events import event_user_erased
from coupons.models import CouponEvent
from coupons.services import coupon_assign_code
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from couponsite.roles import SUPPORT
from couponsite.spreadsheet import spreadsheet_safe

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-ABC", "'-ABC"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("ABC-=", "ABC-="),
        (None, ""),
        (42, "42"),
    ],
)
def test_cells_that_a_spreadsheet_would_run_get_a_quote(value, written):
    assert spreadsheet_safe(value) == written


def assigned_coupon(user_id: str = "u1"):
    book = BookFactory()
    make_coupons(book, 1)
    return coupon_assign_code(
        partner=book.partner, code=f"C{book.pk}-0000000", user_id=user_id, actor=Actor.system("t")
    )


def test_events_are_read_only_for_everyone():
    coupon = assigned_coupon()
    event = CouponEvent.objects.get(coupon=coupon)
    client = client_for(staff_user())

    assert client.get(reverse("admin:coupons_couponevent_changelist")).status_code == 200
    assert client.get(reverse("admin:coupons_couponevent_add")).status_code == 403
    assert client.post(reverse("admin:coupons_couponevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    page = client.get(reverse("admin:coupons_couponevent_change", args=[event.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert 'value="delete_selected"' not in client.get(reverse("admin:coupons_couponevent_changelist")).content.decode()


def test_events_filter_by_action_and_drill_down_by_date():
    coupon = assigned_coupon()
    client = client_for(staff_user(role=SUPPORT))
    day = CouponEvent.objects.get(coupon=coupon).created_at

    by_action = client.get(reverse("admin:coupons_couponevent_changelist"), {"action__exact": "assign"})
    by_other_action = client.get(reverse("admin:coupons_couponevent_changelist"), {"action__exact": "void"})
    by_day = client.get(
        reverse("admin:coupons_couponevent_changelist"),
        {"created_at__year": day.year, "created_at__month": day.month, "created_at__day": day.day},
    )

    assert len(by_action.context["cl"].result_list) == 1
    assert len(by_other_action.context["cl"].result_list) == 0
    assert len(by_day.context["cl"].result_list) == 1


def test_events_filter_by_actor_kind_without_scanning_for_the_kinds():
    assigned_coupon()
    client = client_for(staff_user(role=SUPPORT))

    system = client.get(reverse("admin:coupons_couponevent_changelist"), {"actor_kind": "system"})
    staff = client.get(reverse("admin:coupons_couponevent_changelist"), {"actor_kind": "staff"})

    assert len(system.context["cl"].result_list) == 1
    assert len(staff.context["cl"].result_list) == 0
    assert "api key" in system.content.decode()  # every kind is offered, found or not


def test_an_erasure_shows_as_an_event_of_the_partner_with_no_book_and_the_pseudonym_only():
    coupon = assigned_coupon(user_id="alice")
    event = event_user_erased(
        partner=coupon.partner,
        pseudonym="erased-0123456789abcdef0123456789abcdef",
        counts={"coupons": 1, "events": 1, "redemptions": 0},
        actor=Actor.system("erase_user"),
    )
    client = client_for(staff_user(role=SUPPORT))

    erasures = client.get(reverse("admin:coupons_couponevent_changelist"), {"action__exact": "user_erased"})
    page = client.get(reverse("admin:coupons_couponevent_change", args=[event.pk]))

    assert list(erasures.context["cl"].result_list) == [event]
    assert "User Erased" in erasures.content.decode()
    assert page.status_code == 200
    assert "erased-0123456789abcdef0123456789abcdef" in page.content.decode()
    assert str(event) == f"partner {coupon.partner_id} user_erased"
