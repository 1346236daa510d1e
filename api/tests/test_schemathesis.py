"""Schemathesis' own command line, every check (``--checks all``), against a
live server with a real partner key: the schema says what the server does and
the server does what the schema says.

A fixed seed and example count keep the run repeatable and near a minute;
``SCHEMATHESIS_SEED`` and ``SCHEMATHESIS_MAX_EXAMPLES`` change them (see
docs/testing.md). What the hooks in ``schemathesis_hooks.py`` add, and why, is
written there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from api.tests.conftest import make_tenant
from coupons.services import coupon_assign_random
from couponsite.actors import Actor
from exports.services import export_book_codes_start
from redemptions.services import coupon_redeem
from webhooks.services import webhook_create

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20261129"))
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10"))
HOLDER = "holder"


def real_ids() -> tuple[str, dict]:
    """A partner's key, and the ids of its book, coupons and a redemption."""
    tenant = make_tenant(max_redemptions_per_coupon=None)
    actor = Actor.system("schemathesis")
    held = [
        coupon_assign_random(partner=tenant.partner, book_id=tenant.book.pk, user_id=HOLDER, actor=actor).code
        for _ in range(3)
    ]
    _, redemption = coupon_redeem(partner=tenant.partner, code=held[0], user_id=HOLDER, actor=actor)
    webhook = webhook_create(partner=tenant.partner, url="http://127.0.0.1:8001/hooks", event_types=[])
    export = export_book_codes_start(book=tenant.book, actor=actor, for_people=False)
    ids = {
        "path": {
            "book_id": [tenant.book.pk],
            "code": [coupon.code for coupon in tenant.coupons()],
            "redemption_id": [str(redemption.pk)],
            "export_id": [str(export.pk)],
            "user_id": [HOLDER],
            "webhook_id": [str(webhook.pk)],
        },
        "body": {"book_id": [tenant.book.pk], "user_id": [HOLDER]},
    }
    return tenant.key, ids


@pytest.mark.django_db(transaction=True, databases=["default", "queue"])
def test_schemathesis_with_every_check_finds_nothing(live_server, settings, tmp_path):
    # Limits far above the run: a 429 would end a case before the checks see anything.
    settings.API_RATE = "100000/min"
    settings.FAILED_LOOKUP_LIMIT = "100000/min"
    settings.FAILED_LOOKUP_PARTNER_LIMIT = "100000/min"
    key, ids = real_ids()
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{live_server.url}/api/schema/",
        "--checks=all",
        f"--seed={SEED}",
        f"--max-examples={MAX_EXAMPLES}",
        "--workers=2",
        "--request-timeout=30",  # a busy CI machine took 7 s to render the schema
        f"--header=Authorization: Api-Key {key}",
        "--no-color",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCHEMATHESIS_HOOKS": "api.tests.schemathesis_hooks",
        "SCHEMATHESIS_REAL_IDS": json.dumps(ids),
    }
    # In a folder of its own: nothing of the run is left in the checkout.
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-30000:] + result.stderr[-5000:]
    # Every operation of the schema was tested, none skipped for want of a way in.
    selected = re.search(r"Selected: (\d+)/(\d+)", result.stdout)
    tested = re.search(r"Tested: (\d+)", result.stdout)
    assert selected and tested, result.stdout[-3000:]
    assert int(tested[1]) == int(selected[1]) == int(selected[2]) > 0
