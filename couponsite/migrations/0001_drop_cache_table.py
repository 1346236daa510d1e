from django.db import migrations


class Migration(migrations.Migration):
    """The database cache table of earlier versions held nothing anyone read
    (the rate counters have their own table): drop it where it exists."""

    dependencies: list = []

    operations = [migrations.RunSQL("DROP TABLE IF EXISTS coupon_cache", migrations.RunSQL.noop)]
