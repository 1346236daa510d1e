from django.apps import AppConfig

from couponsite.metrics import DatabaseGauge, register_database_gauge


class CouponsConfig(AppConfig):
    name = "coupons"

    def ready(self) -> None:
        # Counted through the partial index coupon_lock_expiry_idx, which holds
        # only locked coupons: as cheap as there are few expired locks, which
        # is the case while release_expired_locks runs.
        register_database_gauge(
            DatabaseGauge(
                name="coupons_expired_locks_unreleased",
                documentation="Locks past their time not yet written back (reads already treat them as released); "
                "growing while traffic runs means release_expired_locks does not run.",
                sql="SELECT count(*) FROM coupons_coupon WHERE state = 'locked' AND locked_until <= now()",
            )
        )
