"""Deliveries signed per the Standard Webhooks specification: headers
``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
(``v1,`` + base64 of HMAC-SHA256 over ``id.timestamp.body`` keyed with the
secret's decoded bytes; several space-separated while a rotated secret still
signs)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from typing import Any

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 24


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(*, secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    signatures = (signature(secret=s, message_id=message_id, timestamp=timestamp, body=body) for s in secrets_)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
    }


def event_body(*, event_id: int | str, event_type: str, created_at: str, data: dict[str, Any]) -> bytes:
    """The delivery's body: the event as the feed shows it."""
    payload = {"id": event_id, "type": event_type, "created_at": created_at, "data": data}
    return json.dumps(payload, separators=(",", ":")).encode()
