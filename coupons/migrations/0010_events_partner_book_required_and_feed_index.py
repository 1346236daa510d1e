"""Partner and book required on every event; the feed's index (step 3 of 3).

Without a long lock: ``SET NOT NULL`` alone would scan the whole table under
an exclusive lock. A CHECK constraint added NOT VALID holds for new rows at
once; VALIDATE then scans under a lock that lets reads and writes go on; and
PostgreSQL (12+) takes the validated constraint as proof for ``SET NOT NULL``,
which then scans nothing. The same for the rule that book-level events have
no coupon. The index is built CONCURRENTLY, after the backfill (an index on
the new columns during it would have made every filled row a non-HOT update).
"""

import django.db.models.deletion
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

# Rows written meanwhile by an older release (which knew no partner column).
SWEEP = """
UPDATE coupons_couponevent event SET partner_id = coupon.partner_id, book_id = coupon.book_id
FROM coupons_coupon coupon WHERE coupon.id = event.coupon_id AND event.partner_id IS NULL;
"""

REQUIRE_PARTNER_AND_BOOK = """
ALTER TABLE coupons_couponevent
    ADD CONSTRAINT event_partner_book_not_null CHECK (partner_id IS NOT NULL AND book_id IS NOT NULL) NOT VALID;
"""
VALIDATE_AND_SET_NOT_NULL = """
ALTER TABLE coupons_couponevent VALIDATE CONSTRAINT event_partner_book_not_null;
ALTER TABLE coupons_couponevent ALTER COLUMN partner_id SET NOT NULL, ALTER COLUMN book_id SET NOT NULL;
ALTER TABLE coupons_couponevent DROP CONSTRAINT event_partner_book_not_null;
"""
ALLOW_NULL = """
ALTER TABLE coupons_couponevent ALTER COLUMN partner_id DROP NOT NULL, ALTER COLUMN book_id DROP NOT NULL;
"""

BOOK_ACTIONS_SQL = "'book_updated', 'codes_added', 'codes_exported'"
COUPON_MATCHES_ACTION = f"""
ALTER TABLE coupons_couponevent ADD CONSTRAINT event_coupon_matches_action CHECK (
    (action IN ({BOOK_ACTIONS_SQL}) AND coupon_id IS NULL)
    OR (action NOT IN ({BOOK_ACTIONS_SQL})
        AND coupon_id IS NOT NULL AND from_state IS NOT NULL AND to_state IS NOT NULL)
) NOT VALID;
ALTER TABLE coupons_couponevent VALIDATE CONSTRAINT event_coupon_matches_action;
"""

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION coupons_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'coupon events are append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
"""


def required(model: str) -> models.ForeignKey:
    return models.ForeignKey(
        db_constraint=False,
        db_index=False,
        on_delete=django.db.models.deletion.DO_NOTHING,
        related_name="+",
        to=model,
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("coupons", "0009_backfill_event_partner_and_book")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    REQUIRE_PARTNER_AND_BOOK,
                    "ALTER TABLE coupons_couponevent DROP CONSTRAINT IF EXISTS event_partner_book_not_null;",
                ),
                migrations.RunSQL(SWEEP, migrations.RunSQL.noop),
                migrations.RunSQL(VALIDATE_AND_SET_NOT_NULL, ALLOW_NULL),
            ],
            state_operations=[
                migrations.AlterField(model_name="couponevent", name="partner", field=required("books.partner")),
                migrations.AlterField(model_name="couponevent", name="book", field=required("books.book")),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    COUPON_MATCHES_ACTION,
                    "ALTER TABLE coupons_couponevent DROP CONSTRAINT event_coupon_matches_action;",
                )
            ],
            state_operations=[
                migrations.AddConstraint(
                    model_name="couponevent",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                ("action__in", ["book_updated", "codes_added", "codes_exported"]),
                                ("coupon__isnull", True),
                            ),
                            models.Q(
                                models.Q(
                                    ("action__in", ["book_updated", "codes_added", "codes_exported"]), _negated=True
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
            ],
        ),
        migrations.RunSQL(APPEND_ONLY, migrations.RunSQL.noop),
        AddIndexConcurrently(
            model_name="couponevent",
            index=models.Index(
                condition=models.Q(("transaction_id__isnull", False)),
                fields=["partner", "transaction_id", "id"],
                name="event_feed_idx",
            ),
        ),
    ]
