"""``Authorization: Api-Key <key>``: the caller is the key's partner.

A key that does not check out is a 401; a genuine key that was revoked or has
expired, or whose partner is inactive, is a 403. The key's prefix (before the
dot) names its row, and the hash check proves the caller holds the whole key,
so a revoked key is told apart without ever trusting an unproven prefix.

A key that checked out is remembered by each process for
``API_KEY_CACHE_SECONDS`` (by a hash of the whole key, never the key itself),
so that a partner's requests do not each pay for the look-up: a revocation,
an expiry or a partner's deactivation takes effect within that time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections import OrderedDict

from django.conf import settings
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from books.models import Partner, PartnerAPIKey
from couponsite.actors import Actor

KEYWORD = "Api-Key"


@dataclasses.dataclass(frozen=True)
class PartnerPrincipal:
    """``request.user`` for an API call: the partner behind the key."""

    partner: Partner
    api_key: PartnerAPIKey

    is_authenticated = True
    is_anonymous = False

    @property
    def actor(self) -> Actor:
        return Actor.api_key(self.api_key.prefix)


class VerifiedKeys:
    """The principals of keys that checked out, each until its time is up; the
    least recently used go first past ``size``."""

    def __init__(self, size: int = 4096) -> None:
        self._entries: OrderedDict[bytes, tuple[float, PartnerPrincipal]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, digest: bytes) -> PartnerPrincipal | None:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            until, caller = entry
            if time.monotonic() >= until:
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return caller

    def put(self, digest: bytes, caller: PartnerPrincipal, *, seconds: float) -> None:
        with self._lock:
            self._entries[digest] = (time.monotonic() + seconds, caller)
            self._entries.move_to_end(digest)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


VERIFIED_KEYS = VerifiedKeys()


class PartnerAPIKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[PartnerPrincipal, PartnerAPIKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        keyword, _, key = header.strip().partition(" ")
        key = key.strip()
        if keyword.lower() != KEYWORD.lower() or not key:
            raise exceptions.AuthenticationFailed(f"Use the header 'Authorization: {KEYWORD} <key>'.")
        digest = hashlib.sha256(key.encode()).digest()
        caller = VERIFIED_KEYS.get(digest)
        if caller is None:
            caller = _verify(key)
            seconds = settings.API_KEY_CACHE_SECONDS
            if caller.api_key.expiry_date is not None:
                seconds = min(seconds, caller.api_key.expiry_date.timestamp() - time.time())
            if seconds > 0:
                VERIFIED_KEYS.put(digest, caller, seconds=seconds)
        return caller, caller.api_key

    def authenticate_header(self, request: Request) -> str:
        # Present, so that DRF answers 401 (not 403) to a missing or bad key.
        return KEYWORD


def _verify(key: str) -> PartnerPrincipal:
    """The key's partner and key row, looked up and checked."""
    prefix, _, _ = key.partition(".")
    api_key = PartnerAPIKey.objects.select_related("partner").filter(prefix=prefix).first()
    if api_key is None or not api_key.is_valid(key):
        raise exceptions.AuthenticationFailed("Invalid API key.")
    if api_key.revoked:
        raise exceptions.PermissionDenied("This API key was revoked.")
    if api_key.has_expired:
        raise exceptions.PermissionDenied("This API key has expired.")
    if not api_key.partner.is_active:
        raise exceptions.PermissionDenied("This partner is inactive.")
    return PartnerPrincipal(partner=api_key.partner, api_key=api_key)


class IsPartner(permissions.BasePermission):
    def has_permission(self, request: Request, view: object) -> bool:
        return isinstance(request.user, PartnerPrincipal)


def principal(request: Request) -> PartnerPrincipal:
    return request.user
