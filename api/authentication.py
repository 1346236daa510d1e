"""``Authorization: Api-Key <key>``: the caller is the key's partner.

A key that does not check out is a 401; a genuine key that was revoked or has
expired, or whose partner is inactive, is a 403. The key's prefix (before the
dot) names its row, and the hash check proves the caller holds the whole key,
so a revoked key is told apart without ever trusting an unproven prefix.
"""

from __future__ import annotations

import dataclasses

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


class PartnerAPIKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[PartnerPrincipal, PartnerAPIKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        keyword, _, key = header.strip().partition(" ")
        key = key.strip()
        if keyword.lower() != KEYWORD.lower() or not key:
            raise exceptions.AuthenticationFailed(f"Use the header 'Authorization: {KEYWORD} <key>'.")
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
        return PartnerPrincipal(partner=api_key.partner, api_key=api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        # Present, so that DRF answers 401 (not 403) to a missing or bad key.
        return KEYWORD


class IsPartner(permissions.BasePermission):
    def has_permission(self, request: Request, view: object) -> bool:
        return isinstance(request.user, PartnerPrincipal)


def principal(request: Request) -> PartnerPrincipal:
    return request.user
