"""Schemathesis against our own OpenAPI schema, in process through WSGI: no
server error and no answer the schema does not describe.

Driven through Hypothesis directly: schemathesis' pytest plugin (4.32) does not
run under pytest 9 (it reads ``Function._nodeid``, which is gone). Half of the
cases get the ids of real things, so that they reach past the 404.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.tests.conftest import make_tenant
from coupons.services import coupon_assign_random
from couponsite.actors import Actor
from exports.services import export_book_codes_start
from redemptions.services import coupon_redeem
from webhooks.services import webhook_create

SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.negative_data_rejection,
]
HOLDER = "holder"


@pytest.fixture
def real(db) -> dict:
    # As Django's test client does: the WSGI handler must not close the test's
    # connection (and its uncommitted data) at the end of each request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    tenant = make_tenant(max_redemptions_per_coupon=None)
    actor = Actor.system("schemathesis")
    held = [
        coupon_assign_random(partner=tenant.book.partner, book_id=tenant.book.pk, user_id=HOLDER, actor=actor).code
        for _ in range(3)
    ]
    _, redemption = coupon_redeem(partner=tenant.partner, code=held[0], user_id=HOLDER, actor=actor)
    webhook = webhook_create(partner=tenant.partner, url="http://127.0.0.1:8001/hooks", event_types=[])
    export = export_book_codes_start(book=tenant.book, actor=actor, for_people=False)
    yield {
        "headers": {"Authorization": f"Api-Key {tenant.key}"},
        "path": {
            "book_id": st.just(tenant.book.pk),
            "code": st.sampled_from([c.code for c in tenant.coupons()]),
            "redemption_id": st.just(str(redemption.pk)),
            "export_id": st.just(str(export.pk)),
            "user_id": st.just(HOLDER),
            "webhook_id": st.just(str(webhook.pk)),
        },
        "body": {"book_id": st.just(tenant.book.pk), "user_id": st.just(HOLDER)},
    }
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_every_answer_is_in_the_schema(operation, real):
    @given(case=operation.as_strategy(), use_real=st.booleans(), data=st.data())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case, use_real, data):
        if use_real:
            for name in case.path_parameters or {}:
                case.path_parameters[name] = data.draw(real["path"][name])
            if isinstance(case.body, dict):
                for name in real["body"].keys() & case.body.keys():
                    case.body[name] = data.draw(real["body"][name])
        case.call_and_validate(headers=real["headers"], checks=CHECKS)

    run()
