"""The random pick's index in the pick's own order (sort_key, id): the only
index that gives it, so that no plan walks the book's full sort-key index
past the coupons already assigned (a plan made while every coupon of the
table was available did). Built before the old one goes, both without
blocking writes: not atomic, as CREATE/DROP INDEX CONCURRENTLY need."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("books", "0006_book_assignment_ttl_seconds"),
        ("coupons", "0013_user_erasure_validate_and_index"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="coupon",
            index=models.Index(
                condition=models.Q(("state", "available")),
                fields=["book", "sort_key", "id"],
                name="coupon_pick_order_idx",
            ),
        ),
        RemoveIndexConcurrently(model_name="coupon", name="coupon_available_pick_idx"),
    ]
