import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from books.tests.admin_helpers import client_for, staff_user
from books.tests.factories import BookFactory
from coupons.admin import coupon_pages as coupons_admin
from coupons.admin.coupon_pages import coupon_search_filter
from coupons.models import Coupon, CouponEvent
from coupons.services import coupon_assign_code, coupon_lock, coupon_void
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from couponsite.admin_paging import EstimatedCountPaginator
from couponsite.roles import COUPON_MANAGERS, SUPPORT

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:coupons_coupon_changelist"
SYSTEM = Actor.system("test")


def listed_codes(response) -> list[str]:
    return sorted(coupon.code for coupon in response.context["cl"].result_list)


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_search_finds_a_code_in_any_case():
    book = BookFactory()
    make_coupons(book, 3, prefix="Ab")
    client = client_for(staff_user(role=SUPPORT))

    response = client.get(reverse(CHANGELIST), {"q": f"aB{book.pk}-0000001"})

    assert listed_codes(response) == [f"Ab{book.pk}-0000001"]


def test_search_finds_a_users_coupons_by_exact_user_id():
    book = BookFactory()
    make_coupons(book, 3)
    coupon_assign_code(partner=book.partner, code=f"C{book.pk}-0000002", user_id="user-42", actor=SYSTEM)
    client = client_for(staff_user(role=SUPPORT))

    assert listed_codes(client.get(reverse(CHANGELIST), {"q": "user-42"})) == [f"C{book.pk}-0000002"]
    assert listed_codes(client.get(reverse(CHANGELIST), {"q": "user-4"})) == []


def test_filters_by_state_book_and_partner():
    book, other = BookFactory(), BookFactory()
    make_coupons(book, 2)
    make_coupons(other, 2)
    coupon_assign_code(partner=book.partner, code=f"C{book.pk}-0000000", user_id="u1", actor=SYSTEM)
    client = client_for(staff_user(role=SUPPORT))

    by_state = client.get(reverse(CHANGELIST), {"state__exact": "assigned"})
    by_book = client.get(reverse(CHANGELIST), {"book__id__exact": other.pk})
    by_partner = client.get(reverse(CHANGELIST), {"partner__id__exact": book.partner_id})

    assert listed_codes(by_state) == [f"C{book.pk}-0000000"]
    assert listed_codes(by_book) == [f"C{other.pk}-0000000", f"C{other.pk}-0000001"]
    assert listed_codes(by_partner) == [f"C{book.pk}-0000000", f"C{book.pk}-0000001"]


def test_the_change_list_never_counts_the_whole_table():
    make_coupons(BookFactory(), 5)
    client = client_for(staff_user(role=SUPPORT))

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(CHANGELIST), {"state__exact": "available"})

    assert response.status_code == 200
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "coupons_coupon" in q["sql"]]
    # Only the filtered list is counted, and only because the planner expected few rows.
    assert len(counts) == 1
    assert "state" in counts[0]


def test_a_long_list_shows_an_estimate_and_pages_without_counting(monkeypatch):
    book = BookFactory()
    make_coupons(book, 30)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE coupons_coupon")
    monkeypatch.setattr(EstimatedCountPaginator, "exact_count_below", 1)
    monkeypatch.setattr(coupons_admin.CouponAdmin, "list_per_page", 10)
    client = client_for(staff_user(role=SUPPORT))

    first = client.get(reverse(CHANGELIST))
    past_the_end = client.get(reverse(CHANGELIST), {"p": "50"})

    assert first.context["cl"].paginator.estimated
    assert "about 30 coupons" in first.content.decode()
    assert len(first.context["cl"].result_list) == 10
    assert past_the_end.status_code == 200
    assert list(past_the_end.context["cl"].result_list) == []


def test_paginator_counts_exactly_when_few_rows_are_expected():
    make_coupons(BookFactory(), 3)
    paginator = EstimatedCountPaginator(Coupon.objects.order_by("id"), 2)

    assert not paginator.estimated
    assert paginator.count == 3
    assert list(paginator.get_elided_page_range(1)) == [1, 2]


def test_coupons_cannot_be_added_edited_or_deleted_in_the_admin():
    coupon = make_coupons(BookFactory(), 1)[0]
    client = client_for(staff_user())

    assert client.get(reverse("admin:coupons_coupon_add")).status_code == 403
    assert client.post(reverse("admin:coupons_coupon_delete", args=[coupon.pk]), {"post": "yes"}).status_code == 403
    page = client.get(reverse("admin:coupons_coupon_change", args=[coupon.pk]))
    assert page.status_code == 200
    assert page.context["adminform"].form.fields == {}
    assert 'name="_save"' not in page.content.decode()


def test_coupon_page_shows_its_history():
    book = BookFactory()
    make_coupons(book, 1)
    coupon = coupon_assign_code(partner=book.partner, code=f"C{book.pk}-0000000", user_id="u1", actor=SYSTEM)

    page = client_for(staff_user(role=SUPPORT)).get(reverse("admin:coupons_coupon_change", args=[coupon.pk]))

    events = page.context["inline_admin_formsets"][0].formset.queryset
    assert [event.action for event in events] == ["assign"]


def test_void_action_voids_through_the_service_as_the_staff_user():
    book = BookFactory()
    make_coupons(book, 2)
    available = Coupon.objects.get(code=f"C{book.pk}-0000000")
    assigned = coupon_assign_code(partner=book.partner, code=f"C{book.pk}-0000001", user_id="u1", actor=SYSTEM)
    manager = staff_user(role=COUPON_MANAGERS)

    response = client_for(manager).post(
        reverse(CHANGELIST), {"action": "void", "_selected_action": [available.pk, assigned.pk]}
    )

    assert response.status_code == 302
    assert set(Coupon.objects.filter(book=book).values_list("state", flat=True)) == {"void"}
    events = CouponEvent.objects.filter(action="void")
    assert {(e.actor_kind, e.actor_id) for e in events} == {("staff", str(manager.pk))}
    assert messages_of(response) == ["Voided 2 coupon(s)."]


def test_void_action_reports_the_coupons_it_could_not_void():
    book = BookFactory()
    make_coupons(book, 2)
    first, second = Coupon.objects.filter(book=book).order_by("id")
    coupon_void(coupon=first, actor=SYSTEM)
    client = client_for(staff_user(role=COUPON_MANAGERS))

    response = client.post(reverse(CHANGELIST), {"action": "void", "_selected_action": [first.pk, second.pk]})

    assert messages_of(response) == ["Voided 1 coupon(s).", f"{first.code}: The coupon was voided already"]


def test_release_lock_action_unlocks_through_the_service():
    book = BookFactory()
    make_coupons(book, 1)
    code = f"C{book.pk}-0000000"
    coupon_assign_code(partner=book.partner, code=code, user_id="u1", actor=SYSTEM)
    locked = coupon_lock(partner=book.partner, code=code, user_id="u1", actor=SYSTEM)
    manager = staff_user(role=COUPON_MANAGERS)

    response = client_for(manager).post(
        reverse(CHANGELIST), {"action": "release_lock", "_selected_action": [locked.pk]}
    )

    locked.refresh_from_db()
    assert (locked.state, locked.lock_id) == ("assigned", None)
    event = CouponEvent.objects.get(action="unlock")
    assert (event.actor_kind, event.actor_id) == ("staff", str(manager.pk))
    assert messages_of(response) == ["Released the lock of 1 coupon(s)."]


def test_actions_refuse_a_selection_over_the_limit(monkeypatch):
    book = BookFactory()
    make_coupons(book, 3)
    monkeypatch.setattr(coupons_admin, "MAX_ACTION_COUPONS", 2)
    client = client_for(staff_user(role=COUPON_MANAGERS))

    response = client.post(reverse(CHANGELIST), {"action": "void", "select_across": "1", "_selected_action": [1]})

    assert messages_of(response) == ["Nothing done: select at most 2 coupons at a time."]
    assert not Coupon.objects.filter(state="void").exists()


def test_support_is_offered_no_action_and_a_posted_void_changes_nothing():
    coupon = make_coupons(BookFactory(), 1)[0]
    client = client_for(staff_user(role=SUPPORT))

    page = client.get(reverse(CHANGELIST))
    response = client.post(reverse(CHANGELIST), {"action": "void", "_selected_action": [coupon.pk]})

    assert page.status_code == 200
    assert 'value="void"' not in page.content.decode()
    assert response.status_code == 200  # the admin ignores an action it does not offer this user
    assert response.context["action_form"] is None
    coupon.refresh_from_db()
    assert coupon.state == "available"
    assert not CouponEvent.objects.exists()


def plan_of(queryset) -> str:
    with connection.cursor() as cursor:
        # Statistics of this test's rows only: left to autovacuum, they come and
        # go with what other tests wrote, and the plan with them.
        cursor.execute("ANALYZE coupons_coupon")
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_search_by_code_or_user_uses_the_indexes():
    """The plans on this small table with sequential scans priced out: the
    indexes are usable for these predicates, so PostgreSQL picks them on a big
    table (checked by hand on a million coupons, see docs/back-office.md)."""
    make_coupons(BookFactory(), 50)

    plan = plan_of(Coupon.objects.filter(coupon_search_filter("c1-0000001")))

    assert "coupon_code_unique_per_partner_ci" in plan
    assert "coupon_user_idx" in plan
    assert "Seq Scan" not in plan


def test_coupon_page_offers_the_actions_that_fit_its_state_to_managers_only():
    book = BookFactory()
    make_coupons(book, 1)
    code = f"C{book.pk}-0000000"
    coupon_assign_code(partner=book.partner, code=code, user_id="u1", actor=SYSTEM)
    locked = coupon_lock(partner=book.partner, code=code, user_id="u1", actor=SYSTEM)
    url = reverse("admin:coupons_coupon_change", args=[locked.pk])

    manager_page = client_for(staff_user(role=COUPON_MANAGERS)).get(url).content.decode()
    support_page = client_for(staff_user(role=SUPPORT)).get(url).content.decode()

    assert reverse("admin:coupons_coupon_void", args=[locked.pk]) in manager_page
    assert reverse("admin:coupons_coupon_release_lock", args=[locked.pk]) in manager_page
    assert "/void/" not in support_page
    assert "/release-lock/" not in support_page


def test_void_from_the_coupon_page_asks_first_then_voids_as_the_staff_user():
    coupon = make_coupons(BookFactory(), 1)[0]
    manager = staff_user(role=COUPON_MANAGERS)
    client = client_for(manager)
    url = reverse("admin:coupons_coupon_void", args=[coupon.pk])

    question = client.get(url)
    coupon.refresh_from_db()
    assert question.status_code == 200
    assert f"Void coupon {coupon.code}?" in question.content.decode()
    assert coupon.state == "available"

    response = client.post(url)

    coupon.refresh_from_db()
    assert response["Location"] == reverse("admin:coupons_coupon_change", args=[coupon.pk])
    assert coupon.state == "void"
    event = CouponEvent.objects.get(coupon=coupon)
    assert (event.action, event.actor_kind, event.actor_id) == ("void", "staff", str(manager.pk))
    assert messages_of(response) == [f"Voided coupon {coupon.code}."]


def test_releasing_the_lock_of_an_unlocked_coupon_says_why_not():
    coupon = make_coupons(BookFactory(), 1)[0]
    client = client_for(staff_user(role=COUPON_MANAGERS))

    response = client.post(reverse("admin:coupons_coupon_release_lock", args=[coupon.pk]))

    assert messages_of(response) == [f"{coupon.code}: The coupon is not locked"]
    assert not CouponEvent.objects.exists()


@pytest.mark.parametrize("action", ["void", "release_lock"])
def test_support_cannot_void_or_release_from_the_coupon_page(action):
    coupon = make_coupons(BookFactory(), 1)[0]
    client = client_for(staff_user(role=SUPPORT))
    url = reverse(f"admin:coupons_coupon_{action}", args=[coupon.pk])

    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    coupon.refresh_from_db()
    assert coupon.state == "available"


def test_the_coupon_page_shows_its_metadata_read_only():
    book = BookFactory()
    coupon = make_coupons(book, 1)[0]
    Coupon.objects.filter(pk=coupon.pk).update(metadata={"campaign": "spring-mailing"})
    client = client_for(staff_user(role=SUPPORT))

    response = client.get(reverse("admin:coupons_coupon_change", args=[coupon.pk]))

    assert response.status_code == 200
    assert "spring-mailing" in response.content.decode()
    assert "metadata" in response.context["adminform"].readonly_fields
