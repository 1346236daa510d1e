from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import exceptions, serializers, viewsets
from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request
from rest_framework.response import Response

from api.authentication import principal
from api.serializers import FlatRequestSerializer, validated
from books.codes import CODE_PATTERN_RE
from books.models import Partner
from couponsite.actors import Actor


class PartnerMetadata(SimpleMetadata):
    """OPTIONS without DRF's description of the POST body: it needs a
    ``serializer_class``, which our views do not have (each action parses with
    its own serializer, and the OpenAPI schema describes every body)."""

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        return {}


# Every partner endpoint: authenticated by API key, scoped to its partner. (A
# comment, not a docstring: the schema would show it on every operation.)
class PartnerViewSet(viewsets.GenericViewSet):
    metadata_class = PartnerMetadata

    @property
    def partner(self) -> Partner:
        return principal(self.request).partner

    @property
    def actor(self) -> Actor:
        return principal(self.request).actor

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        for header, value in getattr(request, "rate_limit_headers", {}).items():
            response[header] = value
        return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        _check_body_size(request)
        code = kwargs.get("code")
        if code is not None and not CODE_PATTERN_RE.fullmatch(code):
            # Cannot be a code of anyone's: no need to ask the database.
            raise exceptions.NotFound("No such coupon")

    def parsed(self, serializer_class: type[serializers.Serializer], **kwargs: Any) -> dict[str, Any]:
        if issubclass(serializer_class, FlatRequestSerializer) and not kwargs:
            return validated(serializer_class, self.request.data)
        serializer = serializer_class(data=self.request.data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


def _check_body_size(request: Request) -> None:
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower() and not request.META.get("CONTENT_LENGTH"):
        # WSGI gives Django no length, and Django reads such a body as empty.
        raise exceptions.ValidationError(
            {"body": ["A chunked body cannot be read here; send the body with a Content-Length header."]}
        )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.API_MAX_BODY_BYTES:
        raise exceptions.ValidationError({"body": [f"The body must be at most {settings.API_MAX_BODY_BYTES} bytes."]})
