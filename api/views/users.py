from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api import schema
from api.erasure import partner_user_erase
from api.fields import USER_ID_SCHEMA, path_user_id
from api.idempotency import idempotent
from api.views.base import PartnerViewSet
from couponsite.errors import ErrorCode

ERASE_PATH = "/api/v1/users/{user_id}/erase"


class UserErasureSerializer(serializers.Serializer):
    coupons = serializers.IntegerField(
        min_value=0, help_text="Coupons rewritten: held by the user, or naming it in `metadata`."
    )
    events = serializers.IntegerField(
        min_value=0, help_text="Events rewritten: those naming the user, in the history of any coupon it held."
    )
    redemptions = serializers.IntegerField(
        min_value=0, help_text="Redemptions rewritten: the user's, or naming it in `metadata`."
    )


# (A comment, not a docstring: the schema would show it.) The erasure itself
# is redemptions.erasure's and api.erasure's; the stored answer of a retry
# keeps the path's template, not the erased id.
class UserEraseViewSet(PartnerViewSet):
    @extend_schema(
        operation_id="users_erase",
        tags=["users"],
        summary="Erase an end user: a random pseudonym takes its place in every row",
        description=(
            "The right to be forgotten. The user id disappears from your coupons, their events (history, feed "
            "and webhook bodies not yet sent) and redemptions, in user fields and wherever a `metadata` or "
            "snapshot value (or key) is exactly the id, replaced by one random pseudonym that cannot be traced "
            "back. A coupon the user holds keeps its state and still counts towards the book's "
            "`max_codes_per_user`, for the pseudonym; a later request naming the erased id is a new user. "
            "The erasure is recorded as a `user.erased` event (the pseudonym and these counts, never the id). "
            "A user with nothing to erase answers zeros. Stored answers of `Idempotency-Key` retries that "
            "named the user are rewritten too, and a retry of one is refused (`idempotency_key_reused`)."
        ),
        parameters=[
            OpenApiParameter(
                "user_id", USER_ID_SCHEMA, OpenApiParameter.PATH, description="Your id of the end user to erase."
            ),
            schema.IDEMPOTENCY_PARAMETER,
        ],
        request=None,
        responses={
            200: UserErasureSerializer,
            **schema.problems(ErrorCode.NOT_FOUND, *schema.IDEMPOTENCY_CODES),
        },
        examples=[schema.example("Erased", schema.ERASURE)],
    )
    @idempotent(stored_path=ERASE_PATH)
    def erase(self, request: Request, user_id: str) -> Response:
        erasure = partner_user_erase(partner=self.partner, user_id=path_user_id(user_id), actor=self.actor)
        return Response(UserErasureSerializer(erasure.counts()).data)
