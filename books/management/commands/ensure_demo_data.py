import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from books.models import Partner
from books.services import api_key_issue, partner_create

DEMO_PARTNER = "Demo partner"
DEMO_ADMIN = "admin"


class Command(BaseCommand):
    help = (
        "Development only: create a demo partner with an API key and a staff superuser once, "
        "keep their secrets in var/demo-credentials.json and print them."
    )

    def handle(self, *args, **options) -> None:
        if settings.PRODUCTION:
            # It makes a superuser named "admin" and prints its password.
            raise CommandError("ensure_demo_data is for development only; it refuses to run in production.")
        credentials_file = settings.BASE_DIR / "var" / "demo-credentials.json"
        credentials = json.loads(credentials_file.read_text()) if credentials_file.exists() else {}
        with transaction.atomic():
            if not Partner.objects.filter(name=DEMO_PARTNER).exists() or "api_key" not in credentials:
                partner = Partner.objects.filter(name=DEMO_PARTNER).first() or partner_create(name=DEMO_PARTNER)
                _, credentials["api_key"] = api_key_issue(partner=partner, name="demo")
            user_model = get_user_model()
            if not user_model.objects.filter(username=DEMO_ADMIN).exists() or "admin_password" not in credentials:
                credentials["admin_password"] = secrets.token_urlsafe(12)
                admin, _ = user_model.objects.get_or_create(username=DEMO_ADMIN)
                admin.is_staff = admin.is_superuser = True
                admin.set_password(credentials["admin_password"])
                admin.save()
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        credentials_file.write_text(json.dumps(credentials, indent=2))
        credentials_file.chmod(0o600)
        self.stdout.write(
            f"Demo partner API key: {credentials['api_key']}\n"
            f"Admin login: {DEMO_ADMIN} / {credentials['admin_password']}  (kept in {credentials_file})"
        )
