"""Rate limits: a request rate per API key, and failed code look-ups per end user.

Both count in ``api.counters`` (atomic, shared by every worker), not in DRF's
``SimpleRateThrottle``, whose history list is read, changed and written back.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from rest_framework import exceptions, throttling
from rest_framework.request import Request

from api.authentication import PartnerPrincipal
from api.counters import CountersUnavailable, Rate, Window, counter_add, counter_reserve, counters_delete
from couponsite.bounds import user_id_problem
from couponsite.errors import ErrorCode, ServiceError
from couponsite.metrics import count_throttled

# Answers that reveal a code is wrong for this user: counted against them so
# that codes cannot be enumerated through a partner's checkout.
FAILED_LOOKUP_CODES = frozenset({ErrorCode.NOT_FOUND, ErrorCode.COUPON_NOT_HELD})
Handler = Callable[..., Any]
logger = logging.getLogger(__name__)


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
        # name -> (window key, tokens left, the limit's part nobody had leased at the last take)
        self._held: dict[str, tuple[str, int, int]] = {}
        self._lock = threading.Lock()

    def take(self, name: str, window: Window, rate: Rate) -> tuple[bool, int | None]:
        """Whether one more request may go, and how many more the key may send
        in the window as this process knows it (None when the count cannot be
        read): the part of the limit nobody has leased, and this process's
        own tokens. Other processes' unused tokens are not seen, so it may
        say fewer than there are, never more."""
        with self._lock:
            key, left, unleased = self._held.get(name, ("", 0, 0))
            if key == window.key and left > 0:
                self._held[name] = (key, left - 1, unleased)
                return True, left - 1 + unleased
        size = max(1, min(settings.API_RATE_LEASE, rate.limit // 100))
        try:
            counted = counter_add(window, size, fall_back_to_database=False)
        except CountersUnavailable:
            return True, None  # fails open: a partner's checkout must not stop with Redis (logged by api.counters)
        granted = max(0, min(size, rate.limit - (counted - size)))
        left, unleased = max(granted - 1, 0), max(rate.limit - counted, 0)
        with self._lock:
            self._held[name] = (window.key, left, unleased)
        return granted > 0, left + unleased


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
        allowed, remaining = LEASES.take(name, self.window, rate)
        if remaining is not None:
            request.rate_limit_headers = rate_limit_headers(rate=rate, remaining=remaining, window=self.window)
        if not allowed:
            count_throttled("api_rate")
        return allowed

    def wait(self) -> float | None:
        return self.window.seconds_left() if self.window else None


def rate_limit_headers(*, rate: Rate, remaining: int, window: Window) -> dict[str, str]:
    """``API_RATE`` in the IETF httpapi rate-limit headers draft's syntax, so
    that a client can pace itself before it meets a 429."""
    return {
        "RateLimit-Policy": f'"default";q={rate.limit};w={rate.seconds}',
        "RateLimit": f'"default";r={remaining};t={math.ceil(window.seconds_left())}',
    }


def _lookup_name(*, partner_id: int, user_id: str) -> str:
    # Hashed: user ids are up to 128 arbitrary characters.
    user_hash = hashlib.sha256(user_id.encode()).hexdigest()[:32]
    return f"lookup:{partner_id}:{user_hash}"


def _lookup_window(*, partner_id: int, user_id: str) -> tuple[Window, Rate]:
    rate = Rate.parse(settings.FAILED_LOOKUP_LIMIT)
    return Window.current(_lookup_name(partner_id=partner_id, user_id=user_id), rate.seconds), rate


def failed_lookups_forget(*, partner_id: int, user_id: str) -> None:
    """Delete the user's failed look-up counts (their keys hold a hash of its
    id): after an erasure, a user of the same id starts afresh."""
    name = _lookup_name(partner_id=partner_id, user_id=user_id)
    seconds = Rate.parse(settings.FAILED_LOOKUP_LIMIT).seconds
    live = [Window.current(name, seconds), Window.current(name, seconds, now=time.time() - seconds)]
    counters_delete(prefix=Window.prefix(name), windows=live)


class PartnerLookupBudget:
    """``FAILED_LOOKUP_PARTNER_LIMIT``: failed look-ups a partner's backend may
    send in a window, all its end users and endpoints together, so that
    guessing through new user ids or ``GET /coupons/{code}`` is limited too.

    Counted after each failure in the shared counter; the failure that passes
    the budget is logged at WARNING (once a window: only one count equals
    the limit plus one). A process that has seen the budget spent refuses,
    until the window ends, every look-up whose success would reveal a code
    (assign a given code, read a coupon), at no cost to the others; the
    look-ups of coupons a user holds (lock, unlock, redeem) go on, their
    failures answered 429.
    """

    def __init__(self) -> None:
        self._spent: dict[int, str] = {}  # partner id -> the window seen spent

    def refuse_if_spent(self, partner_id: int) -> None:
        window, _ = self._window(partner_id)
        if self._spent.get(partner_id) == window.key:
            raise self.too_many(partner_id)

    def too_many(self, partner_id: int) -> exceptions.Throttled:
        window, _ = self._window(partner_id)
        return _too_many(window, "partner_lookups", "Too many failed code look-ups from this partner; retry later.")

    def spend(self, partner: Any) -> bool:
        """Count one failed look-up of ``partner``; whether it passed the budget."""
        window, rate = self._window(partner.pk)
        count = counter_add(window, fall_back_to_database=True)
        if count <= rate.limit:
            return False
        self._spent[partner.pk] = window.key
        if count == rate.limit + 1:
            logger.warning(
                "Partner %s (%s) passed its budget of failed code look-ups (%s): look-ups that could "
                "reveal a code are refused until the window ends",
                partner.pk,
                partner.name,
                settings.FAILED_LOOKUP_PARTNER_LIMIT,
            )
        return True

    @staticmethod
    def _window(partner_id: int) -> tuple[Window, Rate]:
        rate = Rate.parse(settings.FAILED_LOOKUP_PARTNER_LIMIT)
        return Window.current(f"lookup:{partner_id}", rate.seconds), rate


PARTNER_BUDGET = PartnerLookupBudget()


def failed_lookups_limited(*, reserve: bool) -> Callable[[Handler], Handler]:
    """Limit a user's failed code look-ups (``not_found``, ``coupon_not_held``)
    on a view that looks a code up for the ``user_id`` in its body: past
    ``FAILED_LOOKUP_LIMIT`` in a window, such an answer is ``429 throttled``
    instead, so that codes cannot be enumerated through a partner's checkout.
    Each failure counts against the partner's budget too (``PartnerLookupBudget``).

    ``reserve=True``, where finding a code gives it (assign a given code): a
    slot is taken before the look-up and given back unless it failed, so a
    user past the limit is refused at once, and however many requests arrive
    together no more than the limit can look up and fail.

    ``reserve=False``, where success means the user holds the coupon (lock,
    unlock, redeem): only a failure is counted, after it, atomically; the
    answers past the limit are 429 and say nothing of the code, and a user
    past the limit can still use the coupons it holds. No count at all on
    success.

    Put it inside ``@idempotent``: the answer stored for a key is the one the
    partner saw (a 429 replayed, never the failure it hid).
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Any:
            user_id = request.data.get("user_id") if isinstance(request.data, dict) else None
            if user_id_problem(user_id):
                return handler(view, request, *args, **kwargs)  # the body's parser answers 400
            partner = request.user.partner
            window, rate = _lookup_window(partner_id=partner.pk, user_id=user_id)
            if reserve:
                PARTNER_BUDGET.refuse_if_spent(partner.pk)
                if not counter_reserve(window, limit=rate.limit):
                    raise _too_many(window, "user_lookups")
            failed = False
            try:
                return handler(view, request, *args, **kwargs)
            except ServiceError as error:
                failed = error.code in FAILED_LOOKUP_CODES
                if failed:
                    past_budget = PARTNER_BUDGET.spend(partner)
                    past_limit = not reserve and counter_add(window, fall_back_to_database=True) > rate.limit
                    if past_budget:
                        raise PARTNER_BUDGET.too_many(partner.pk) from error
                    if past_limit:
                        raise _too_many(window, "user_lookups") from error
                raise
            finally:
                if reserve and not failed:
                    counter_add(window, -1, fall_back_to_database=True)

        return wrapper

    return decorate


def failed_reads_limited(handler: Handler) -> Handler:
    """The partner's budget of failed look-ups on a read of a code (a coupon,
    its history): refused once this process has seen the budget spent, and a
    ``not_found`` counted against it."""

    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Any:
        partner = request.user.partner
        PARTNER_BUDGET.refuse_if_spent(partner.pk)
        try:
            return handler(view, request, *args, **kwargs)
        except ServiceError as error:
            if error.code in FAILED_LOOKUP_CODES and PARTNER_BUDGET.spend(partner):
                raise PARTNER_BUDGET.too_many(partner.pk) from error
            raise

    return wrapper


def _too_many(
    window: Window, limit: str, detail: str = "Too many failed code look-ups for this user; retry later."
) -> exceptions.Throttled:
    count_throttled(limit)
    return exceptions.Throttled(wait=window.seconds_left(), detail=detail)
