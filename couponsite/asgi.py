import logging
import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "couponsite.settings")

application = get_asgi_application()
logging.getLogger("couponsite").info("database: %s", settings.DATABASE_DESCRIPTION)
