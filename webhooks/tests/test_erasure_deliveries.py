"""An erased user in webhooks: a delivery not yet sent carries the pseudonym
(its body is read from the event row when it is sent), and the erasure
itself is delivered as a ``user.erased`` event of no book."""

from __future__ import annotations

import json

import pytest

from coupons.services import coupon_assign_random
from couponsite.actors import Actor
from redemptions.erasure import user_erase
from webhooks.delivery import _body
from webhooks.models import WebhookDelivery
from webhooks.tests.helpers import endpoint_for, fan_out_until, stocked_book

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = Actor.system("test")
URL = "http://127.0.0.1:9/hooks"  # never called here


def test_a_pending_delivery_names_the_pseudonym_and_the_erasure_is_delivered_too():
    partner, book = stocked_book()
    everything = endpoint_for(partner, URL)
    erasures_only = endpoint_for(partner, URL, event_types=["user.erased"])
    coupon_assign_random(partner=partner, book_id=book.pk, user_id="alice", actor=ACTOR)
    assert fan_out_until(everything, 1) == 1

    erasure = user_erase(partner=partner, user_id="alice", actor=ACTOR)

    assert fan_out_until(everything, 2) == 2
    assert fan_out_until(erasures_only, 1) == 1
    assigned, erased = [
        json.loads(_body(d)) for d in WebhookDelivery.objects.filter(endpoint=everything).order_by("id")
    ]
    assert (assigned["type"], assigned["data"]["user_id"]) == ("coupon.assigned", erasure.pseudonym)
    assert erased["type"] == "user.erased"
    assert erased["data"] == {"user_id": erasure.pseudonym, "coupons": 1, "events": 1, "redemptions": 0}
    assert "alice" not in json.dumps([assigned, erased])
