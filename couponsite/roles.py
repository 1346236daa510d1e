"""The back office's two staff roles, as Django groups.

Set up after every ``migrate`` and by ``manage.py setup_roles`` (for a
database whose groups were edited).

Generating or uploading codes adds coupons, so it needs ``coupons.add_coupon``;
voiding a coupon or releasing its lock changes it, so ``coupons.change_coupon``.
The admin itself never edits a coupon's fields: those permissions only open
the buttons and actions that call the services. Exports (whole books,
redemptions, events: every end user's id in one file) need
``exports.start_export``, which only coupon managers have, and every export
is recorded.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

COUPON_MANAGERS = "Coupon managers"
SUPPORT = "Support"

READ_ONLY = {
    "books": {"partner": ["view"], "book": ["view"]},
    "coupons": {"coupon": ["view"], "couponevent": ["view"]},
    "redemptions": {"redemption": ["view"]},
    "webhooks": {"webhookendpoint": ["view"], "webhookdelivery": ["view"], "webhookattempt": ["view"]},
}

ROLES: dict[str, dict[str, dict[str, list[str]]]] = {
    COUPON_MANAGERS: {
        "books": {"partner": ["view"], "book": ["view", "add", "change"]},
        "coupons": {"coupon": ["view", "add", "change"], "couponevent": ["view"]},
        "redemptions": {"redemption": ["view"]},
        "exports": {"export": ["view", "start"]},
        # "change" only opens the actions: retry a delivery, switch an endpoint off.
        "webhooks": {
            "webhookendpoint": ["view", "change"],
            "webhookdelivery": ["view", "change"],
            "webhookattempt": ["view"],
        },
    },
    # Support reads one case at a time: no bulk file of every partner's user ids.
    SUPPORT: READ_ONLY,
}


def roles_sync(**kwargs: Any) -> None:
    """Create the groups if missing and set their permissions to exactly ROLES.

    Connected to ``post_migrate`` (``couponsite.apps``), so that every migrated
    database, a test database after a flush included, has them; ``manage.py
    setup_roles`` runs it by hand.
    """
    for role, grants in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(
            Permission.objects.get(content_type__app_label=app_label, codename=f"{action}_{model}")
            for app_label, models in grants.items()
            for model, actions in models.items()
            for action in actions
        )
