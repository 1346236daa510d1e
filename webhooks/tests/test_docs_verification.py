"""The signature check that docs/api.md gives partners, run as written on
signatures we make, during a rotation too."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from webhooks.signing import event_body, secret_new, signed_headers

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def documented_functions() -> dict:
    text = API_DOC.read_text()
    section = text[text.index("### Verifying a signature") :]
    block = re.search(r"^```python\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    namespace: dict = {}
    exec(block.group(1), namespace)  # noqa: S102 - our own documentation
    return namespace


def test_the_documented_checks_accept_our_signatures_and_refuse_others():
    docs = documented_functions()
    old, new = secret_new(), secret_new()
    body = event_body(event_id=7, event_type="coupon.voided", created_at="2026-03-02T10:00:00Z", data={"code": "A"})
    headers = signed_headers(secrets_=[new, old], message_id="7", timestamp=int(time.time()), body=body)
    stale = signed_headers(secrets_=[new], message_id="7", timestamp=int(time.time()) - 3600, body=body)

    assert docs["verified_event"](old, body, headers)["type"] == "coupon.voided"
    assert docs["verified_by_hand"](old, body, headers) and docs["verified_by_hand"](new, body, headers)
    assert not docs["verified_by_hand"](secret_new(), body, headers)
    assert not docs["verified_by_hand"](new, body.replace(b"A", b"B"), headers)
    assert not docs["verified_by_hand"](new, body, stale)
    with pytest.raises(WebhookVerificationError):
        docs["verified_event"](secret_new(), body, headers)
