"""Rate limits: a request rate per API key, and failed code look-ups per end user.

Both count in ``api.counters`` (atomic, shared by every worker), not in DRF's
``SimpleRateThrottle``, whose history list is read, changed and written back.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from rest_framework import exceptions, throttling
from rest_framework.request import Request

from api.authentication import PartnerPrincipal
from api.counters import Rate, Window, counter_add
from couponsite.errors import ErrorCode

# Answers that reveal a code is wrong for this user: counted against them so
# that codes cannot be enumerated through a partner's checkout.
FAILED_LOOKUP_CODES = frozenset({ErrorCode.NOT_FOUND.value, ErrorCode.COUPON_NOT_HELD.value})


class Leases:
    """Requests of a window taken from the shared counter a few at a time, so
    that most requests need no round trip to it.

    Each take of ``n`` adds ``n`` to the shared count and keeps the part of it
    still under the limit; so all processes together never let more than the
    limit through. A process may hold up to ``n - 1`` tokens it will not use
    in that window: a key can be refused up to that many requests per process
    early, never late. ``n`` is ``API_RATE_LEASE`` and 1 for a limit under 100.
    """

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, int]] = {}  # name -> (window key, tokens left)
        self._lock = threading.Lock()

    def take(self, name: str, window: Window, rate: Rate) -> bool:
        with self._lock:
            key, left = self._held.get(name, ("", 0))
            if key == window.key and left > 0:
                self._held[name] = (key, left - 1)
                return True
        size = max(1, min(settings.API_RATE_LEASE, rate.limit // 100))
        counted = counter_add(window, size)
        granted = max(0, min(size, rate.limit - (counted - size)))
        with self._lock:
            self._held[name] = (window.key, max(granted - 1, 0))
        return granted > 0


LEASES = Leases()


class ApiKeyRateThrottle(throttling.BaseThrottle):
    """``API_RATE`` requests per key and window, e.g. ``"1200/min"``."""

    def __init__(self) -> None:
        self.window: Window | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        user = request.user
        if not isinstance(user, PartnerPrincipal):
            return True
        rate = Rate.parse(settings.API_RATE)
        name = f"key:{user.api_key.prefix}"
        self.window = Window.current(name, rate.seconds)
        return LEASES.take(name, self.window, rate)

    def wait(self) -> float | None:
        return self.window.seconds_left() if self.window else None


def _lookup_window(*, partner_id: int, user_id: str) -> tuple[Window, Rate]:
    rate = Rate.parse(settings.FAILED_LOOKUP_LIMIT)
    # Hashed: user ids are up to 128 arbitrary characters.
    user_hash = hashlib.sha256(user_id.encode()).hexdigest()[:32]
    return Window.current(f"lookup:{partner_id}:{user_hash}", rate.seconds), rate


class FailedLookupLimitMixin:
    """For views that look a coupon up by code for a ``user_id`` in the body.

    A slot is taken before the look-up and given back unless the answer was a
    failed look-up, so that however many requests a user sends at once, no
    more than the limit can fail in one window.
    """

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self._lookup_window: Window | None = None
        super().initial(request, *args, **kwargs)
        user_id = request.data.get("user_id") if isinstance(request.data, dict) else None
        if not isinstance(user_id, str) or not user_id:
            return
        window, rate = _lookup_window(partner_id=request.user.partner.pk, user_id=user_id)
        if counter_add(window) > rate.limit:
            counter_add(window, -1)
            raise exceptions.Throttled(
                wait=window.seconds_left(), detail="Too many failed code look-ups for this user; retry later."
            )
        self._lookup_window = window

    def finalize_response(self, request: Request, response: HttpResponse, *args: Any, **kwargs: Any) -> HttpResponse:
        window = getattr(self, "_lookup_window", None)
        if window is not None:
            self._lookup_window = None
            data = getattr(response, "data", None)  # None on a replay, which looked nothing up
            code = data.get("code") if isinstance(data, dict) and response.status_code >= 400 else None
            if code not in FAILED_LOOKUP_CODES or response.get("Idempotent-Replayed"):
                counter_add(window, -1)
        return super().finalize_response(request, response, *args, **kwargs)
