"""Tenant isolation, generated from the URL configuration.

Every route of ``api.urls`` is called with every method it takes, with another
partner's ids in the path and in the body. A route naming one of that partner's
objects in its path must answer 404 exactly as for a missing one; no route may
change that partner's data or show any of it. A route added later is in this
matrix without anyone remembering; one with a path parameter the matrix does not
know fails until it is taught what the other partner's value is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver

from api import urls as api_urls
from api.models import IdempotencyKey
from api.tests.conftest import Tenant, assert_problem, make_tenant
from coupons.models import Coupon, CouponEvent
from coupons.services import coupon_assign_random, coupon_lock
from couponsite.actors import Actor
from exports.models import Export
from exports.services import export_book_codes_start
from redemptions.models import Redemption
from redemptions.services import coupon_redeem
from webhooks.models import WebhookEndpoint
from webhooks.services import webhook_create

PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
# Path parameters naming a partner's own object: another partner's is a 404.
OWNED = {"book_id", "code", "redemption_id", "webhook_id", "export_id"}
# A user_id path parameter is in the caller's own namespace (user ids are opaque
# strings each partner chooses): the victim's value names nothing of theirs, so
# the answer must simply show none of their data.
VICTIM = "victim-user"


@dataclass(frozen=True)
class Route:
    path: str  # the route with <converter:name> placeholders
    methods: tuple[str, ...]

    @property
    def parameters(self) -> set[str]:
        return {m["name"] for m in PARAMETER.finditer(self.path)}


def _methods(callback) -> tuple[str, ...]:
    actions = getattr(callback, "actions", None)
    if actions:
        return tuple(sorted(m.upper() for m in actions))
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    names = ("get", "post", "put", "patch", "delete")
    return tuple(m.upper() for m in names if view_class is not None and hasattr(view_class, m))


def api_routes(patterns=None, prefix: str = "/") -> list[Route]:
    routes = []
    for pattern in api_urls.urlpatterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            routes += api_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            routes.append(Route(prefix + str(pattern.pattern), _methods(pattern.callback)))
    return routes


ROUTES = api_routes()
CASES = [(route, method) for route in ROUTES for method in route.methods]


def test_the_matrix_covers_every_route_and_method():
    assert len(ROUTES) == len(api_urls.v1) + len(api_urls.urlpatterns) - 1
    assert all(route.methods for route in ROUTES), [r.path for r in ROUTES if not r.methods]


@dataclass
class Victim:
    tenant: Tenant
    locked_code: str
    lock_id: str
    redemption_id: str
    webhook_id: str
    export_id: str

    def value(self, parameter: str) -> str:
        values = {
            "book_id": str(self.tenant.book.pk),
            "code": self.locked_code,
            "redemption_id": self.redemption_id,
            "export_id": self.export_id,
            "user_id": VICTIM,
            "webhook_id": self.webhook_id,
        }
        if parameter not in values:
            pytest.fail(f"Teach the tenant matrix another partner's value for the path parameter {parameter!r}")
        return values[parameter]

    def body(self) -> dict:
        """Every field any route takes, pointing at the victim's things."""
        return {
            "book_id": self.tenant.book.pk,
            "user_id": VICTIM,
            "lock_id": self.lock_id,
            "count": 1,
            "codes": ["HIJACKED-1"],
            "name": "hijacked",
            "is_active": False,
            "reason": "hijacked",
            "metadata": {"hijacked": True},
        }

    def markers(self) -> list[str]:
        """Strings that would show the victim's data leaking."""
        codes = [c.code for c in self.tenant.coupons()]
        return [
            self.tenant.book.name,
            self.redemption_id,
            self.lock_id,
            self.tenant.api_key.prefix,
            self.webhook_id,
            self.export_id,
            "/victim",
            *codes,
        ]

    def snapshot(self) -> dict:
        partner = self.tenant.partner
        coupons = Coupon.objects.filter(partner=partner).order_by("id")
        return {
            "books": list(partner.books.order_by("id").values()),
            "coupons": list(coupons.values("code", "state", "user_id", "lock_id", "redemption_count")),
            "events": CouponEvent.objects.filter(coupon__partner=partner).count(),
            "redemptions": list(Redemption.objects.filter(coupon__partner=partner).values("id", "rolled_back_at")),
            "idempotency_keys": IdempotencyKey.objects.filter(partner=partner).count(),
            "webhooks": list(WebhookEndpoint.objects.filter(partner=partner).values()),
            "exports": list(Export.objects.filter(partner=partner).values("id", "status")),
        }


@pytest.fixture
def victim(db) -> Victim:
    tenant = make_tenant()
    actor = Actor.api_key(tenant.api_key.prefix)
    locked = coupon_assign_random(partner=tenant.book.partner, book_id=tenant.book.pk, user_id=VICTIM, actor=actor)
    locked = coupon_lock(partner=tenant.partner, code=locked.code, user_id=VICTIM, actor=actor)
    redeemed = coupon_assign_random(partner=tenant.book.partner, book_id=tenant.book.pk, user_id=VICTIM, actor=actor)
    _, redemption = coupon_redeem(partner=tenant.partner, code=redeemed.code, user_id=VICTIM, actor=actor)
    webhook = webhook_create(partner=tenant.partner, url="http://127.0.0.1:8001/victim", event_types=[])
    export = export_book_codes_start(book=tenant.book, actor=actor, for_people=False)
    return Victim(
        tenant=tenant,
        locked_code=locked.code,
        lock_id=str(locked.lock_id),
        redemption_id=str(redemption.pk),
        webhook_id=str(webhook.pk),
        export_id=str(export.pk),
    )


@pytest.mark.parametrize(("route", "method"), CASES, ids=[f"{m} {r.path}" for r, m in CASES])
def test_another_partners_ids_are_not_found_and_untouched(tenant, victim, route, method):
    path = PARAMETER.sub(lambda m: victim.value(m["name"]), route.path)
    before = victim.snapshot()

    body = None if method == "GET" else json.dumps(victim.body())
    response = tenant.client.generic(method, path, body or "", content_type="application/json")

    assert victim.snapshot() == before
    if route.parameters & OWNED:
        assert_problem(response, 404, "not_found")
    content = response.content.decode()
    leaked = [marker for marker in victim.markers() if marker in content]
    assert not leaked, f"{method} {path} shows another partner's {leaked}"
