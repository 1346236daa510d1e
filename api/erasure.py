"""Erasing an end user through the API: the domain's rows
(``redemptions.erasure.user_erase``) and the API's own records that name the
user, in one transaction: the partner's stored idempotent answers, and the
user's failed look-up counts."""

from __future__ import annotations

from django.db import transaction

from api.idempotency import idempotency_answers_erase
from api.throttles import failed_lookups_forget
from books.models import Partner
from couponsite.actors import Actor
from couponsite.bounds import checked_user_id
from redemptions.erasure import UserErasure, user_erase


def partner_user_erase(*, partner: Partner, user_id: str, actor: Actor) -> UserErasure:
    """Replace ``user_id`` by a new pseudonym in every row of the partner that names it."""
    user_id = checked_user_id(user_id)
    with transaction.atomic():
        erasure = user_erase(partner=partner, user_id=user_id, actor=actor)
        idempotency_answers_erase(partner_id=partner.pk, user_id=user_id, pseudonym=erasure.pseudonym)
        failed_lookups_forget(partner_id=partner.pk, user_id=user_id)
    return erasure
