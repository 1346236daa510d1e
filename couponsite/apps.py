import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("couponsite")


class CouponsiteConfig(AppConfig):
    name = "couponsite"
    verbose_name = "Coupon Book Service"

    def ready(self) -> None:
        logger.info("database: %s", settings.DATABASE_DESCRIPTION)
