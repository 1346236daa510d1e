"""Erasing a partner's end user from this layer's rows: its coupons and
events, under a pseudonym (``redemptions.erasure.user_erase`` is the service,
which adds the redemptions).

What is rewritten is the user's footprint: every coupon the user holds or
ever held (found through the user's events, ``event_user_idx``), and those
coupons' events. In each row, a user column equal to the user id becomes the
pseudonym, and so does every JSON string or object key equal to it, at any
depth (metadata, and the snapshots events carry): ``coupons_erased_json`` in
SQL, ``erased_value`` here. A value that merely contains the id is the
partner's own text and is left alone; so is anything outside the footprint
(a book's metadata, another user's coupon).

The audit trail stays append-only: the database refuses every UPDATE of an
event but the one ``events_erase`` announces in the transaction-local setting
``coupons.erasure`` (migration 0012), and any DELETE but the retention purge's.

Nothing can give the erased id a new row meanwhile: ``erasure_lock`` takes
the partner's user lock, which every single assignment of that user takes
shared, and the partner's batches lock, which every batch takes shared. The
other transitions (lock, redeem, expiry...) work on a coupon the user already
holds, under its row lock: the rewrite of the coupon waits for them, and they
for it, so their events are visible to the rewrite of the events that follows.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from django.db import connection

from books.models import Partner
from couponsite.locks import LockKind, ensure_in_transaction, stable_key

PSEUDONYM_PREFIX = "erased-"
# Exclusive: no assignment of the user, nor any batch of the partner, runs
# until the erasure commits. The batches' lock first, as a batch takes it
# before any other.
LOCKS_SQL = """
SELECT pg_advisory_xact_lock(%(batches_lock_key)s);
SELECT pg_advisory_xact_lock(%(user_lock_key)s);
"""
FOOTPRINT_SQL = """
SELECT coupon_id FROM coupons_couponevent
WHERE partner_id = %(partner_id)s AND user_id = %(user_id)s AND coupon_id IS NOT NULL
UNION
SELECT id FROM coupons_coupon WHERE partner_id = %(partner_id)s AND user_id = %(user_id)s
ORDER BY 1
"""
# The holder keeps its state and counts: only the names change.
COUPONS_SQL = """
UPDATE coupons_coupon SET
    user_id = CASE WHEN user_id = %(user_id)s THEN %(pseudonym)s ELSE user_id END,
    metadata = coupons_erased_json(metadata, %(user_id)s, %(pseudonym)s),
    updated_at = %(now)s
WHERE id = ANY(%(coupon_ids)s)
  AND (user_id = %(user_id)s OR coupons_erased_json(metadata, %(user_id)s, %(pseudonym)s) <> metadata)
"""
EVENTS_SQL = """
UPDATE coupons_couponevent SET
    user_id = CASE WHEN user_id = %(user_id)s THEN %(pseudonym)s ELSE user_id END,
    data = coupons_erased_json(data, %(user_id)s, %(pseudonym)s)
WHERE coupon_id = ANY(%(coupon_ids)s) AND partner_id = %(partner_id)s
  AND (user_id = %(user_id)s OR coupons_erased_json(data, %(user_id)s, %(pseudonym)s) IS DISTINCT FROM data)
"""
ANNOUNCE_SQL = "SELECT set_config('coupons.erasure', %s, true)"


def erasure_pseudonym() -> str:
    """A fresh random name: not derived from the user id, so nothing can lead
    back from it (a hash could be matched by hashing guesses)."""
    return PSEUDONYM_PREFIX + secrets.token_hex(16)


def erased_value(value: Any, *, erased: str, pseudonym: str) -> Any:
    """``value`` (parsed JSON) with every string and object key equal to
    ``erased`` replaced by ``pseudonym``: ``coupons_erased_json`` in Python."""
    if isinstance(value, dict):
        return {
            (pseudonym if key == erased else key): erased_value(item, erased=erased, pseudonym=pseudonym)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [erased_value(item, erased=erased, pseudonym=pseudonym) for item in value]
    return pseudonym if value == erased and isinstance(value, str) else value


def erasure_lock(*, partner: Partner, user_id: str) -> None:
    """Keep every assignment of ``user_id``, and every batch of the partner,
    out until the transaction ends."""
    ensure_in_transaction()
    parameters = {
        "batches_lock_key": stable_key(LockKind.PARTNER_BATCHES, partner.pk),
        "user_lock_key": stable_key(LockKind.PARTNER_USER, partner.pk, user_id),
    }
    with connection.cursor() as cursor:
        cursor.execute(LOCKS_SQL, parameters)
        while cursor.nextset():
            pass


def user_footprint(*, partner: Partner, user_id: str) -> list[int]:
    """The ids of the partner's coupons ``user_id`` holds or ever held."""
    with connection.cursor() as cursor:
        cursor.execute(FOOTPRINT_SQL, {"partner_id": partner.pk, "user_id": user_id})
        return [coupon_id for (coupon_id,) in cursor.fetchall()]


def coupons_erase(*, coupon_ids: list[int], user_id: str, pseudonym: str, now: datetime) -> int:
    """Rename ``user_id`` on these coupons; how many changed."""
    parameters = {"coupon_ids": coupon_ids, "user_id": user_id, "pseudonym": pseudonym, "now": now}
    with connection.cursor() as cursor:
        cursor.execute(COUPONS_SQL, parameters)
        return cursor.rowcount


def events_erase(*, partner: Partner, coupon_ids: list[int], user_id: str, pseudonym: str) -> int:
    """Rename ``user_id`` on the events of these coupons of the partner: the
    one rewrite of old events the database lets through, announced to it for
    this statement only; how many changed."""
    ensure_in_transaction()
    erasure = json.dumps({"partner_id": partner.pk, "user_id": user_id, "pseudonym": pseudonym})
    parameters = {"partner_id": partner.pk, "coupon_ids": coupon_ids, "user_id": user_id, "pseudonym": pseudonym}
    with connection.cursor() as cursor:
        cursor.execute(ANNOUNCE_SQL, [erasure])
        cursor.execute(EVENTS_SQL, parameters)
        changed = cursor.rowcount
        cursor.execute(ANNOUNCE_SQL, [""])
    return changed
