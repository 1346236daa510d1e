"""The events' retention purge (``coupons.retention``): its records, and the
one way past the append-only rule.

The trigger lets a DELETE through only for a row created before the time the
deleting transaction declared in ``coupons.events_purge_before`` (set with
``set_config(..., true)``, for that transaction alone): the purge declares its
cutoff, and even it cannot delete a younger event. Updates stay refused.
"""

import django.db.models.deletion
from django.db import migrations, models

import coupons.models

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

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION coupons_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'coupon events are append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("books", "0006_book_assignment_ttl_seconds"),
        ("coupons", "0010_events_partner_book_required_and_feed_index"),
    ]

    operations = [
        migrations.RunSQL(APPEND_ONLY_BUT_PURGE, APPEND_ONLY),
        migrations.CreateModel(
            name="EventPurge",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("started_at", models.DateTimeField()),
                ("before", models.DateTimeField()),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("deleted", models.PositiveBigIntegerField(default=0)),
                ("kept", models.PositiveBigIntegerField(default=0)),
            ],
            options={
                "ordering": ["-started_at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="EventPurgeMark",
            fields=[
                (
                    "partner",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="books.partner",
                    ),
                ),
                ("transaction_id", coupons.models.TransactionIdField()),
                ("event_id", models.BigIntegerField()),
                ("through_id", models.BigIntegerField()),
            ],
        ),
    ]
