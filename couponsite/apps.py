from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class CouponsiteConfig(AppConfig):
    name = "couponsite"
    verbose_name = "Coupon Book Service"

    def ready(self) -> None:
        from couponsite.roles import roles_sync

        # After the last app's signal of a migrate (or a flush), when Django has
        # created every app's permissions, which the staff groups hold.
        last_app = [config for config in apps.get_app_configs() if config.models_module][-1]
        post_migrate.connect(roles_sync, sender=last_app, dispatch_uid="couponsite.roles_sync")
