from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "webhooks"

    def ready(self) -> None:
        from coupons.retention import register_event_keeper
        from webhooks.outbox import OUTBOX_KEEPS_EVENT_SQL

        # The events' purge keeps what the outbox has not sent yet.
        register_event_keeper(name="webhook outbox", condition=OUTBOX_KEEPS_EVENT_SQL)
