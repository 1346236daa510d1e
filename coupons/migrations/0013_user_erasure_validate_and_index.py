"""Erasing an end user (step 2 of 2): the constraints of 0012 validated, and
the index an erasure finds a user's events through.

Not atomic: VALIDATE scans the table under a lock that lets reads and writes
go on, and the index is built ``CONCURRENTLY``. A partner's events of one
user (``event_user_idx``) are otherwise only found by reading all of the
partner's events.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

VALIDATE = """
ALTER TABLE coupons_couponevent VALIDATE CONSTRAINT event_coupon_matches_action;
ALTER TABLE coupons_couponevent VALIDATE CONSTRAINT event_book_matches_action;
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("coupons", "0012_user_erasure")]

    operations = [
        migrations.RunSQL(VALIDATE, migrations.RunSQL.noop),
        AddIndexConcurrently(
            model_name="couponevent",
            index=models.Index(
                condition=models.Q(("user_id__isnull", False)),
                fields=["partner", "user_id"],
                name="event_user_idx",
            ),
        ),
    ]
