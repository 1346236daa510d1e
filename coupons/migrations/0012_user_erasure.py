"""Erasing an end user (step 1 of 2): the one rewrite the audit trail allows,
and the partner-level event that records it.

- ``coupons_erased_json(value, erased, pseudonym)``: ``value`` with every
  string and every object key equal to ``erased`` replaced by ``pseudonym``,
  at any depth (the SQL twin of ``coupons.erasure.erased_value``).
- The append-only trigger lets one UPDATE through: the erasure that
  ``coupons.erasure`` announces in the transaction-local setting
  ``coupons.erasure`` (partner, user id, pseudonym), on that partner's events
  only, changing ``user_id`` and ``data`` exactly as the erasure does and
  nothing else, to a pseudonym of the erasure's form. Every other UPDATE is
  refused as before, and every DELETE but the retention purge's (0011).
- The ``user_erased`` event belongs to no book: ``book_id`` may be NULL, for
  that action only. Catalogue changes under a short lock (``lock_timeout``);
  the constraints are added ``NOT VALID`` and validated by 0013, which scans
  without blocking writes, and builds the user index ``CONCURRENTLY``.
"""

import django.db.models.deletion
from django.db import migrations, models

LOCK_TIMEOUT = "SET LOCAL lock_timeout = '5s';"

ERASED_JSON = """
CREATE FUNCTION coupons_erased_json(value jsonb, erased text, pseudonym text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    CASE jsonb_typeof(value)
    WHEN 'object' THEN
        RETURN (
            SELECT coalesce(jsonb_object_agg(CASE WHEN entry.key = erased THEN pseudonym ELSE entry.key END,
                                             coupons_erased_json(entry.item, erased, pseudonym)), '{}'::jsonb)
            FROM jsonb_each(value) AS entry(key, item)
        );
    WHEN 'array' THEN
        RETURN (
            SELECT coalesce(jsonb_agg(coupons_erased_json(element.item, erased, pseudonym) ORDER BY element.position),
                            '[]'::jsonb)
            FROM jsonb_array_elements(value) WITH ORDINALITY AS element(item, position)
        );
    WHEN 'string' THEN
        RETURN CASE WHEN value #>> '{}' = erased THEN to_jsonb(pseudonym) ELSE value END;
    ELSE
        RETURN value;
    END CASE;
END;
$$;
"""

APPEND_ONLY_BUT_PURGE_AND_ERASURE = """
CREATE OR REPLACE FUNCTION coupons_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    erasure jsonb;
    erased text;
    pseudonym text;
BEGIN
    IF TG_OP = 'DELETE'
       AND OLD.created_at < nullif(current_setting('coupons.events_purge_before', true), '')::timestamptz THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        erasure := nullif(current_setting('coupons.erasure', true), '')::jsonb;
        erased := erasure ->> 'user_id';
        pseudonym := erasure ->> 'pseudonym';
        IF pseudonym ~ '^erased-[0-9a-f]{32}$'
           AND OLD.partner_id = (erasure ->> 'partner_id')::bigint
           AND NEW.user_id IS NOT DISTINCT FROM (CASE WHEN OLD.user_id = erased THEN pseudonym ELSE OLD.user_id END)
           AND NEW.data IS NOT DISTINCT FROM coupons_erased_json(OLD.data, erased, pseudonym)
           AND to_jsonb(NEW) - 'user_id' - 'data' = to_jsonb(OLD) - 'user_id' - 'data' THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'coupon events are append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
"""

# 0011's.
APPEND_ONLY_BUT_PURGE = """
CREATE OR REPLACE FUNCTION coupons_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND OLD.created_at < nullif(current_setting('coupons.events_purge_before', true), '')::timestamptz THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'coupon events are append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
"""

NO_COUPON_SQL = "'book_updated', 'codes_added', 'codes_exported', 'user_erased'"
OLD_NO_COUPON_SQL = "'book_updated', 'codes_added', 'codes_exported'"
NO_BOOK_SQL = "'user_erased'"


def coupon_matches_action(actions: str) -> str:
    return f"""
ALTER TABLE coupons_couponevent ADD CONSTRAINT event_coupon_matches_action CHECK (
    (action IN ({actions}) AND coupon_id IS NULL)
    OR (action NOT IN ({actions}) AND coupon_id IS NOT NULL AND from_state IS NOT NULL AND to_state IS NOT NULL)
) NOT VALID;
"""


PARTNER_EVENTS = f"""
ALTER TABLE coupons_couponevent ALTER COLUMN book_id DROP NOT NULL;
ALTER TABLE coupons_couponevent DROP CONSTRAINT event_coupon_matches_action;
{coupon_matches_action(NO_COUPON_SQL)}
ALTER TABLE coupons_couponevent ADD CONSTRAINT event_book_matches_action CHECK (
    (action IN ({NO_BOOK_SQL}) AND book_id IS NULL) OR (action NOT IN ({NO_BOOK_SQL}) AND book_id IS NOT NULL)
) NOT VALID;
"""

NO_PARTNER_EVENTS = f"""
ALTER TABLE coupons_couponevent DROP CONSTRAINT event_book_matches_action;
ALTER TABLE coupons_couponevent DROP CONSTRAINT event_coupon_matches_action;
{coupon_matches_action(OLD_NO_COUPON_SQL)}
ALTER TABLE coupons_couponevent VALIDATE CONSTRAINT event_coupon_matches_action;
ALTER TABLE coupons_couponevent ALTER COLUMN book_id SET NOT NULL;
"""

ACTIONS = [
    ("assign", "Assign"),
    ("lock", "Lock"),
    ("unlock", "Unlock"),
    ("lock_expired", "Lock Expired"),
    ("redeem", "Redeem"),
    ("rollback", "Rollback"),
    ("void", "Void"),
    ("unassign", "Unassign"),
    ("assignment_expired", "Assignment Expired"),
    ("codes_added", "Codes Added"),
    ("book_updated", "Book Updated"),
    ("codes_exported", "Codes Exported"),
    ("user_erased", "User Erased"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("books", "0006_book_assignment_ttl_seconds"),
        ("coupons", "0011_event_retention"),
        ("redemptions", "0002_drop_indexes_covered_by_composites"),
    ]

    operations = [
        migrations.RunSQL(LOCK_TIMEOUT, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="couponevent",
            name="action",
            field=models.CharField(choices=ACTIONS, max_length=40),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(PARTNER_EVENTS, NO_PARTNER_EVENTS)],
            state_operations=[
                migrations.RemoveConstraint(model_name="couponevent", name="event_coupon_matches_action"),
                migrations.AlterField(
                    model_name="couponevent",
                    name="book",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="books.book",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="couponevent",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                ("action__in", ["book_updated", "codes_added", "codes_exported", "user_erased"]),
                                ("coupon__isnull", True),
                            ),
                            models.Q(
                                models.Q(
                                    ("action__in", ["book_updated", "codes_added", "codes_exported", "user_erased"]),
                                    _negated=True,
                                ),
                                ("coupon__isnull", False),
                                ("from_state__isnull", False),
                                ("to_state__isnull", False),
                            ),
                            _connector="OR",
                        ),
                        name="event_coupon_matches_action",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="couponevent",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("action__in", ["user_erased"]), ("book__isnull", True)),
                            models.Q(models.Q(("action__in", ["user_erased"]), _negated=True), ("book__isnull", False)),
                            _connector="OR",
                        ),
                        name="event_book_matches_action",
                    ),
                ),
            ],
        ),
        migrations.RunSQL(ERASED_JSON, "DROP FUNCTION coupons_erased_json(jsonb, text, text);"),
        migrations.RunSQL(APPEND_ONLY_BUT_PURGE_AND_ERASURE, APPEND_ONLY_BUT_PURGE),
    ]
