from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from api.problems import CATALOGUE


@extend_schema(exclude=True)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def problem_type(request: Request, code: str) -> Response:
    """What a problem ``type`` URI names: the code, its status and when it happens."""
    problem = CATALOGUE.get(code)
    if problem is None:
        raise NotFound("No such problem type")
    return Response({"code": problem.code, "status": problem.status, "title": problem.title, "when": problem.when})
