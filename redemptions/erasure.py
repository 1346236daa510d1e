"""Erasing a partner's end user (DESIGN.md, "Erasing an end user"): the user
disappears from its coupons, their events and redemptions, replaced by one
random pseudonym, in one transaction; the erasure is itself an event. How,
and what is and is not rewritten: ``coupons.erasure``.

The pseudonym takes the user's place everywhere: the coupons it holds keep
their state and count towards each book's ``max_codes_per_user`` for the
pseudonym, and a later request naming the erased id is a new user's.
"""

from __future__ import annotations

import dataclasses

from django.db import connection, transaction
from django.utils import timezone

from books.models import Partner
from coupons.erasure import coupons_erase, erasure_lock, erasure_pseudonym, events_erase, user_footprint
from coupons.events import event_user_erased
from couponsite.actors import Actor
from couponsite.bounds import checked_user_id
from redemptions.models import Redemption

REDEMPTIONS_SQL = f"""
UPDATE {Redemption._meta.db_table} SET
    user_id = CASE WHEN user_id = %(user_id)s THEN %(pseudonym)s ELSE user_id END,
    metadata = coupons_erased_json(metadata, %(user_id)s, %(pseudonym)s)
WHERE coupon_id = ANY(%(coupon_ids)s)
  AND (user_id = %(user_id)s OR coupons_erased_json(metadata, %(user_id)s, %(pseudonym)s) <> metadata)
"""  # noqa: S608 - the table name is ours, the values are parameters


@dataclasses.dataclass(frozen=True)
class UserErasure:
    """What an erasure changed: rows of each kind, and the name now in their place."""

    pseudonym: str
    coupons: int
    events: int
    redemptions: int

    def counts(self) -> dict[str, int]:
        return {"coupons": self.coupons, "events": self.events, "redemptions": self.redemptions}


def user_erase(*, partner: Partner, user_id: str, actor: Actor) -> UserErasure:
    """Replace the partner's end user ``user_id`` by a new pseudonym in every
    row of its footprint, and record the erasure. A user with no rows gets
    zeros (and the record): asking twice is harmless."""
    user_id = checked_user_id(user_id)
    with transaction.atomic():
        erasure_lock(partner=partner, user_id=user_id)
        pseudonym = erasure_pseudonym()
        coupon_ids = user_footprint(partner=partner, user_id=user_id)
        # Coupons first: their row locks are what lock, redeem and rollback
        # wait on, so the redemptions and events read afterwards are final.
        coupons = coupons_erase(coupon_ids=coupon_ids, user_id=user_id, pseudonym=pseudonym, now=timezone.now())
        redemptions = _redemptions_erase(coupon_ids=coupon_ids, user_id=user_id, pseudonym=pseudonym)
        events = events_erase(partner=partner, coupon_ids=coupon_ids, user_id=user_id, pseudonym=pseudonym)
        erasure = UserErasure(pseudonym=pseudonym, coupons=coupons, events=events, redemptions=redemptions)
        event_user_erased(partner=partner, pseudonym=pseudonym, counts=erasure.counts(), actor=actor)
    return erasure


def _redemptions_erase(*, coupon_ids: list[int], user_id: str, pseudonym: str) -> int:
    parameters = {"coupon_ids": coupon_ids, "user_id": user_id, "pseudonym": pseudonym}
    with connection.cursor() as cursor:
        cursor.execute(REDEMPTIONS_SQL, parameters)
        return cursor.rowcount
