"""Staff users for the admin tests, in the roles of books/roles.py."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from couponsite.roles import roles_sync

PASSWORD = "correct horse battery staple"


def staff_user(*, role: str | None = None, username: str | None = None):
    """A staff user in ``role`` (a group name), or a superuser when None."""
    user_model = get_user_model()
    username = username or (role or "root").lower().replace(" ", "-")
    if role is None:
        return user_model.objects.create_superuser(username=username, password=PASSWORD)
    # Transactional tests flush the groups the migration made: make them again.
    roles_sync()
    user = user_model.objects.create_user(username=username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client
