"""Partner and book on the events recorded before 0008 (step 2 of 3).

In batches of ids, each its own short transaction (the migration is not
atomic): the table stays writable, no batch holds many row locks, and an
interrupted run resumes where it stopped (it only fills rows that have no
partner yet). Nothing else of an old row changes: the append-only trigger
lets exactly this through (0008). Old rows get no snapshot and no transaction
id: the feed starts with the events recorded after the upgrade.
"""

from django.db import migrations

BATCH = 10_000

FILL = """
UPDATE coupons_couponevent event SET partner_id = coupon.partner_id, book_id = coupon.book_id
FROM coupons_coupon coupon
WHERE coupon.id = event.coupon_id AND event.id > %(after)s AND event.id <= %(upto)s AND event.partner_id IS NULL
"""


def fill_partner_and_book(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM coupons_couponevent WHERE partner_id IS NULL")
        first, last = cursor.fetchone()
        if first is None:
            return
        after = first - 1
        while after < last:
            cursor.execute(FILL, {"after": after, "upto": after + BATCH})
            after += BATCH


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("coupons", "0008_events_feed_columns")]

    operations = [migrations.RunPython(fill_partner_and_book, migrations.RunPython.noop, elidable=True)]
