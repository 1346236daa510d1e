from django.db import migrations

from books.roles import COUPON_MANAGERS, SUPPORT, roles_sync


def create_roles(apps, schema_editor):
    roles_sync(apps=apps)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[COUPON_MANAGERS, SUPPORT]).delete()


class Migration(migrations.Migration):
    """Data only: the staff groups "Coupon managers" and "Support"."""

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("books", "0001_initial"),
        ("coupons", "0002_initial"),
        ("redemptions", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
