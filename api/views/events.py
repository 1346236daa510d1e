from __future__ import annotations

from django.utils.http import urlencode
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api import schema
from api.fields import WholeNumberQueryField
from api.views.base import PartnerViewSet
from coupons.event_types import FEED_TYPE_NAMES
from coupons.feed import FEED_PAGE_SIZE, FEED_PAGE_SIZE_MAX, FeedEvent, event_feed
from coupons.retention import feed_reach
from couponsite.bounds import ID_MAX
from couponsite.errors import ErrorCode


class EventQuerySerializer(serializers.Serializer):
    after = WholeNumberQueryField(
        min_value=1,
        max_value=ID_MAX,
        required=False,
        help_text="The id of the last event you have; from the start without it.",
    )
    type = serializers.MultipleChoiceField(
        choices=FEED_TYPE_NAMES, required=False, help_text="Only events of this type (repeat for several)."
    )
    book_id = WholeNumberQueryField(
        min_value=1,
        max_value=ID_MAX,
        required=False,
        help_text="Only this book's events (`user.erased` belongs to no book).",
    )
    page_size = WholeNumberQueryField(min_value=1, max_value=FEED_PAGE_SIZE_MAX, default=FEED_PAGE_SIZE)


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.ChoiceField(choices=FEED_TYPE_NAMES)
    created_at = serializers.DateTimeField()
    data = serializers.DictField(
        help_text=(
            "A snapshot at the time of the event: for `coupon.*`, the coupon as the API showed it, without "
            "`lock_id`, with `redemption` for `coupon.redeemed` and `coupon.redemption_rolled_back`; for "
            "`book.codes_added`, `book_id`, `count` and `method` (`generate`, `upload` or `import`); for "
            "`user.erased`, the pseudonym now in the user's place (`user_id`) and the rows rewritten "
            "(`coupons`, `events`, `redemptions`). An erasure rewrites the user id in earlier snapshots."
        )
    )


class EventPageSerializer(serializers.Serializer):
    next = serializers.URLField(
        allow_null=True, help_text="The rest, when this page is full; null when you are up to date for now."
    )
    results = EventSerializer(many=True)
    retention_days = serializers.IntegerField(
        allow_null=True,
        min_value=1,
        help_text=(
            "How many days events are kept: older ones are deleted by a daily purge (a coupon's history too). "
            "Poll at least this often. null: kept forever."
        ),
    )
    available_since = serializers.DateTimeField(
        allow_null=True,
        help_text=(
            "How far back the feed reaches: every one of your events created since this time is here; older "
            "ones may have been deleted. It moves forward a day at a time. null: none has ever been deleted."
        ),
    )


# (A comment, not a docstring: the schema would show it.) The feed's order is
# coupons.feed's: a poll with `after` never misses nor repeats an event. The
# action is not named `list`: the schema would make its answer an array.
class EventViewSet(PartnerViewSet):
    @extend_schema(
        operation_id="events_list",
        tags=["events"],
        summary="Your events, oldest first: poll with the last id you have",
        description=(
            "Every change to your coupons and books, in the order they can no longer be preceded by another: "
            "a client that polls with `after` (the last id it has) never misses nor repeats an event, even "
            "when transactions commit out of id order. So ids do not always increase along the feed; follow "
            "`after`, never compare ids. An event appears once every change that began before it has ended "
            "(usually within milliseconds; a large code upload can hold it back until it is done).\n\n"
            "Events are kept `retention_days` days (every page says so, and `available_since` says how far back "
            "the feed reaches). An `after` that names an event deleted since, or after which an event you had not "
            "read yet was deleted, is `410 events_expired`: poll without `after` to start again from the oldest "
            "event kept, and reconcile what you missed from the coupons themselves."
        ),
        parameters=[EventQuerySerializer],
        responses={200: EventPageSerializer, **schema.problems(ErrorCode.EVENTS_EXPIRED)},
        examples=[schema.example("A page", schema.FEED_PAGE)],
    )
    def feed(self, request: Request) -> Response:
        query = EventQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        options = query.validated_data
        events = event_feed(
            partner=self.partner,
            after=options.get("after"),
            types=sorted(options.get("type") or ()),
            book_id=options.get("book_id"),
            limit=options["page_size"],
        )
        reach = feed_reach()
        page = {
            "next": self._next(events, page_size=options["page_size"]),
            "results": events,
            "retention_days": reach.retention_days,
            "available_since": reach.available_since,
        }
        return Response(EventPageSerializer(page).data)

    def _next(self, events: list[FeedEvent], *, page_size: int) -> str | None:
        if len(events) < page_size:
            return None
        query = self.request.query_params.copy()
        query["after"] = str(events[-1].id)
        return self.request.build_absolute_uri(f"{self.request.path}?{urlencode(query, doseq=True)}")
