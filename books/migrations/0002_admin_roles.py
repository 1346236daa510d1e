from django.db import migrations


class Migration(migrations.Migration):
    """Once the staff groups' data migration; they are now set up after every
    migrate (couponsite/roles.py), so this step does nothing more."""

    dependencies = [("books", "0001_initial")]

    operations: list = []
