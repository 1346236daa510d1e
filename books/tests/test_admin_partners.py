import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from books.models import Partner, PartnerAPIKey
from books.tests.admin_helpers import client_for, staff_user
from books.tests.factories import PartnerFactory, api_key_for
from couponsite.roles import COUPON_MANAGERS

pytestmark = pytest.mark.django_db


def test_adding_a_partner_goes_through_the_service():
    client = client_for(staff_user())

    response = client.post(reverse("admin:books_partner_add"), {"name": "  Acme  "})

    assert response.status_code == 302
    assert Partner.objects.get().name == "Acme"


def test_a_partner_name_taken_in_another_case_is_refused_on_the_field():
    PartnerFactory(name="Acme")
    client = client_for(staff_user())

    response = client.post(reverse("admin:books_partner_add"), {"name": "ACME"})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"] == ["A partner with this name exists already."]
    assert Partner.objects.count() == 1


def test_deactivate_action_switches_partners_off():
    active, inactive = PartnerFactory(), PartnerFactory(is_active=False)
    client = client_for(staff_user())

    response = client.post(
        reverse("admin:books_partner_changelist"),
        {"action": "deactivate", "_selected_action": [active.pk, inactive.pk]},
    )

    assert response.status_code == 302
    active.refresh_from_db()
    assert not active.is_active
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Deactivated 1 partner(s)."]


def test_partner_page_switches_the_active_flag_and_keeps_the_name():
    partner = PartnerFactory(name="Acme")
    client = client_for(staff_user())

    inline = {"api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0"}

    response = client.post(reverse("admin:books_partner_change", args=[partner.pk]), {"name": "Renamed", **inline})

    assert response.status_code == 302
    partner.refresh_from_db()
    assert (partner.name, partner.is_active) == ("Acme", False)


def test_partners_cannot_be_deleted_in_the_admin():
    partner = PartnerFactory()
    client = client_for(staff_user())

    response = client.post(reverse("admin:books_partner_delete", args=[partner.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert Partner.objects.filter(pk=partner.pk).exists()


def test_a_new_api_key_is_shown_once_and_works():
    partner = PartnerFactory()
    client = client_for(staff_user())

    response = client.post(
        reverse("admin:books_partnerapikey_add"),
        {"partner": partner.pk, "name": "checkout", "expiry_date_0": "", "expiry_date_1": ""},
        follow=True,
    )

    texts = [str(m) for m in response.context["messages"]]
    assert len(texts) == 2  # the key, and the admin's own "added" message
    key = re.search(r"The API key for checkout is: (\S+)\. ", texts[0]).group(1)
    assert PartnerAPIKey.objects.get_from_key(key).partner == partner
    page_again = client.get(reverse("admin:books_partnerapikey_change", args=[PartnerAPIKey.objects.get().pk]))
    assert key not in page_again.content.decode()


def test_a_new_api_key_never_travels_in_a_cookie():
    # Audit L5: the messages cookie is signed, not encrypted: anyone holding it reads it.
    partner = PartnerFactory()
    client = client_for(staff_user())

    added = client.post(
        reverse("admin:books_partnerapikey_add"),
        {"partner": partner.pk, "name": "checkout", "expiry_date_0": "", "expiry_date_1": ""},
    )
    shown = client.get(added["Location"])

    key = re.search(r"The API key for checkout is: (\S+)\. ", shown.content.decode()).group(1)
    cookies = [morsel.OutputString() for response in (added, shown) for morsel in response.cookies.values()]
    assert "messages" not in client.cookies
    assert not [cookie for cookie in cookies if key in cookie or key[:8] in cookie]


def test_revoke_action_revokes_keys_through_the_service():
    partner = PartnerFactory()
    api_key, plain_key = api_key_for(partner)
    client = client_for(staff_user())

    response = client.post(
        reverse("admin:books_partnerapikey_changelist"), {"action": "revoke", "_selected_action": [api_key.pk]}
    )

    assert response.status_code == 302
    assert not PartnerAPIKey.objects.is_valid(plain_key)
    assert PartnerAPIKey.objects.get().revoked


def test_coupon_managers_cannot_see_api_keys():
    client = client_for(staff_user(role=COUPON_MANAGERS))

    assert client.get(reverse("admin:books_partnerapikey_changelist")).status_code == 403
    assert client.get(reverse("admin:books_partner_changelist")).status_code == 200


def test_the_librarys_unused_key_model_is_not_in_the_admin():
    page = client_for(staff_user()).get(reverse("admin:index")).content.decode()

    assert "rest_framework_api_key" not in page
    assert reverse("admin:books_partnerapikey_changelist") in page
