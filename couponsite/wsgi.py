import logging
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "couponsite.settings")

application = get_wsgi_application()
# Servers (gunicorn workers, runserver) say which database they use; commands
# keep stderr for their own one-line errors.
logging.getLogger("couponsite").info("database: %s", settings.DATABASE_DESCRIPTION)
