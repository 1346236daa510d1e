from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from couponsite.errors import ERRORS


@extend_schema(exclude=True)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def problem_type(request: Request, code: str) -> Response:
    """What a problem ``type`` URI names: the code, its status and when it happens."""
    error_type = ERRORS.get(code)
    if error_type is None:
        raise NotFound("No such problem type")
    return Response({"code": code, "status": error_type.status, "title": error_type.title, "when": error_type.when})
