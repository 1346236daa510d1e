from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class CouponsiteConfig(AppConfig):
    name = "couponsite"
    verbose_name = "Coupon Book Service"

    def ready(self) -> None:
        from couponsite.metrics import DatabaseGauge, register_database_gauge
        from couponsite.roles import roles_sync

        # The task queue's jobs by status: a growing "todo" means too few
        # workers (or none), "failed" needs a look. Finished jobs are pruned
        # after 72 hours (couponsite.tasks), so the table stays small.
        register_database_gauge(
            DatabaseGauge(
                name="queue_jobs",
                documentation="The task queue's jobs by status (todo, doing, succeeded, failed, cancelled, aborted).",
                sql="SELECT status, count(*) FROM procrastinate_jobs GROUP BY status",
                labels=("status",),
            )
        )

        # After the last app's signal of a migrate (or a flush), when Django has
        # created every app's permissions, which the staff groups hold.
        last_app = [config for config in apps.get_app_configs() if config.models_module][-1]
        post_migrate.connect(roles_sync, sender=last_app, dispatch_uid="couponsite.roles_sync")
