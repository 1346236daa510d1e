"""The audit trail becomes the events feed's table too (step 1 of 3).

Safe on a big table: every change here is a change of the catalogue, not of
the rows. New columns are nullable without a default (no rewrite); the
transaction id's default is set after its column is added, so that it applies
to new rows only (a volatile default in ADD COLUMN would rewrite the table);
a longer varchar and a dropped NOT NULL rewrite nothing either. The locks are
short, and ``lock_timeout`` keeps the migration from queueing traffic behind a
long transaction: it fails instead, to be run again.

Steps 2 and 3 (0009, 0010) fill partner and book on the old rows in batches
and then make them required without a long lock.
"""

import django.db.models.deletion
from django.db import migrations, models

import coupons.models

LOCK_TIMEOUT = "SET LOCAL lock_timeout = '5s';"

TRANSACTION_ID = """
ALTER TABLE coupons_couponevent ADD COLUMN transaction_id xid8 NULL;
ALTER TABLE coupons_couponevent ALTER COLUMN transaction_id SET DEFAULT pg_current_xact_id();
"""

# The rows from before this migration get their partner and book once (0009):
# the append-only rule lets an UPDATE through only for that, on a row that has
# none yet, changing nothing else. 0010 restores the strict rule.
APPEND_ONLY_BUT_BACKFILL = """
CREATE OR REPLACE FUNCTION coupons_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.partner_id IS NULL
       AND to_jsonb(NEW) - 'partner_id' - 'book_id' = to_jsonb(OLD) - 'partner_id' - 'book_id' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'coupon events are append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
"""

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION coupons_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'coupon events are append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
"""

# A time as the API writes it (Django REST framework's ISO 8601 in UTC: "Z",
# microseconds only when there are some), for the snapshots events carry.
API_TIME = """
CREATE FUNCTION coupons_api_time(moment timestamptz) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(moment AT TIME ZONE 'UTC', CASE WHEN date_part('microseconds', moment)::bigint % 1000000 = 0
        THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)
$$;
"""

STATES = [
    ("available", "Available"),
    ("assigned", "Assigned"),
    ("locked", "Locked"),
    ("redeemed", "Redeemed"),
    ("void", "Void"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("books", "0003_partner_name_unique_in_any_case"),
        ("coupons", "0007_unassign_and_assignment_expiry"),
        ("redemptions", "0002_drop_indexes_covered_by_composites"),
    ]

    operations = [
        migrations.RunSQL(LOCK_TIMEOUT, migrations.RunSQL.noop),
        migrations.AddField(
            model_name="couponevent",
            name="partner",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="books.partner",
            ),
        ),
        migrations.AddField(
            model_name="couponevent",
            name="book",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="books.book",
            ),
        ),
        migrations.AddField(model_name="couponevent", name="data", field=models.JSONField(blank=True, null=True)),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(TRANSACTION_ID, "ALTER TABLE coupons_couponevent DROP COLUMN transaction_id;")
            ],
            state_operations=[
                migrations.AddField(
                    model_name="couponevent",
                    name="transaction_id",
                    field=coupons.models.TransactionIdField(
                        db_default=models.Func(
                            function="pg_current_xact_id", output_field=coupons.models.TransactionIdField()
                        ),
                        editable=False,
                        null=True,
                    ),
                ),
            ],
        ),
        migrations.AlterField(
            model_name="couponevent",
            name="action",
            field=models.CharField(
                choices=[
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
                ],
                max_length=40,
            ),
        ),
        migrations.AlterField(
            model_name="couponevent",
            name="coupon",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="events",
                to="coupons.coupon",
            ),
        ),
        migrations.AlterField(
            model_name="couponevent",
            name="from_state",
            field=models.CharField(blank=True, choices=STATES, max_length=16, null=True),
        ),
        migrations.AlterField(
            model_name="couponevent",
            name="to_state",
            field=models.CharField(blank=True, choices=STATES, max_length=16, null=True),
        ),
        migrations.RunSQL(APPEND_ONLY_BUT_BACKFILL, APPEND_ONLY),
        migrations.RunSQL(API_TIME, "DROP FUNCTION coupons_api_time(timestamptz);"),
    ]
