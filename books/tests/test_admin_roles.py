import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from couponsite.roles import COUPON_MANAGERS, SUPPORT, roles_sync

pytestmark = pytest.mark.django_db


def permissions_of(role: str) -> set[str]:
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=role).permissions.select_related("content_type")
    }


def test_support_may_only_view():
    roles_sync()

    assert permissions_of(SUPPORT) == {
        "books.view_partner",
        "books.view_book",
        "coupons.view_coupon",
        "coupons.view_couponevent",
        "redemptions.view_redemption",
        "webhooks.view_webhookendpoint",
        "webhooks.view_webhookdelivery",
        "webhooks.view_webhookattempt",
    }


def test_coupon_managers_manage_books_and_coupons_and_export_but_not_partners_or_keys():
    roles_sync()

    assert permissions_of(COUPON_MANAGERS) == {
        "books.view_partner",
        "books.view_book",
        "books.add_book",
        "books.change_book",
        "coupons.view_coupon",
        "coupons.add_coupon",
        "coupons.change_coupon",
        "coupons.view_couponevent",
        "redemptions.view_redemption",
        "exports.view_export",
        "exports.start_export",
        "webhooks.view_webhookendpoint",
        "webhooks.change_webhookendpoint",
        "webhooks.view_webhookdelivery",
        "webhooks.change_webhookdelivery",
        "webhooks.view_webhookattempt",
    }


def test_setup_roles_command_restores_edited_groups():
    roles_sync()
    Group.objects.get(name=SUPPORT).permissions.clear()
    Group.objects.filter(name=COUPON_MANAGERS).delete()

    out = io.StringIO()
    call_command("setup_roles", stdout=out)

    assert out.getvalue() == "Groups set up: Coupon managers, Support.\n"
    assert len(permissions_of(SUPPORT)) == 8
    assert len(permissions_of(COUPON_MANAGERS)) == 16
