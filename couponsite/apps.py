from django.apps import AppConfig


class CouponsiteConfig(AppConfig):
    name = "couponsite"
    verbose_name = "Coupon Book Service"
