"""The back office's two staff roles, as Django groups.

Set up by a data migration on every database and again by ``manage.py
setup_roles`` (for a database whose groups were edited or flushed). Both pass
the app registry to use: the migration its historical one.

Generating or uploading codes adds coupons, so it needs ``coupons.add_coupon``;
voiding a coupon or releasing its lock changes it, so ``coupons.change_coupon``.
The admin itself never edits a coupon's fields: those permissions only open
the buttons and actions that call the services.
"""

from __future__ import annotations

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions

COUPON_MANAGERS = "Coupon managers"
SUPPORT = "Support"

READ_ONLY = {
    "books": {"partner": ["view"], "book": ["view"]},
    "coupons": {"coupon": ["view"], "couponevent": ["view"]},
    "redemptions": {"redemption": ["view"]},
}

ROLES: dict[str, dict[str, dict[str, list[str]]]] = {
    COUPON_MANAGERS: {
        "books": {"partner": ["view"], "book": ["view", "add", "change"]},
        "coupons": {"coupon": ["view", "add", "change"], "couponevent": ["view"]},
        "redemptions": {"redemption": ["view"]},
    },
    SUPPORT: READ_ONLY,
}


def roles_sync(*, apps: Apps = global_apps) -> None:
    """Create the groups if missing and set their permissions to exactly ROLES."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for app_label in {label for grants in ROLES.values() for label in grants}:
        _ensure_permissions(apps, app_label)
    for role, grants in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        codenames = [
            (app_label, f"{action}_{model}")
            for app_label, models in grants.items()
            for model, actions in models.items()
            for action in actions
        ]
        permissions = [
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in codenames
        ]
        group.permissions.set(permissions)


def _ensure_permissions(apps: Apps, app_label: str) -> None:
    # On a new database the permissions are only created after the last
    # migration (post_migrate); create them now so the groups can hold them.
    app_config = apps.get_app_config(app_label)
    # The historical registry's app configs have no models module, and
    # create_permissions skips an app without one.
    historical = getattr(app_config, "models_module", None) is None
    if historical:
        app_config.models_module = True
    try:
        create_permissions(app_config, apps=apps, verbosity=0)
    finally:
        if historical:
            app_config.models_module = None
