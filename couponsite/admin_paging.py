"""A change-list paginator that does not count a million rows.

Django's admin counts the filtered rows on every page view; on the coupons
table that is a scan of the whole table or book. This paginator asks the query
planner for its row estimate (``EXPLAIN``, from the table statistics: no scan)
and counts exactly only when the planner expects a short list. With an
estimate, the page shows "about N", links only the pages around the current
one, and a page past the real end is simply empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

# Below this many expected rows an exact count is cheap.
EXACT_COUNT_BELOW = 10_000


def planner_row_estimate(queryset: QuerySet) -> int:
    """How many rows PostgreSQL expects ``queryset`` to return."""
    sql, params = queryset.order_by().query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    exact_count_below = EXACT_COUNT_BELOW

    @cached_property
    def estimate(self) -> int:
        return planner_row_estimate(self.object_list)

    @cached_property
    def estimated(self) -> bool:
        """Whether ``count`` is the planner's estimate rather than a count."""
        return self.estimate >= self.exact_count_below

    @cached_property
    def count(self) -> int:
        return self.estimate if self.estimated else self.object_list.count()

    def validate_number(self, number: int | str) -> int:
        if not self.estimated:
            return super().validate_number(number)
        try:
            number = int(number)
        except (TypeError, ValueError) as error:
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from error
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return number

    def page(self, number: int | str) -> Page:
        if not self.estimated:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        return self._get_page(self.object_list[bottom : bottom + self.per_page], number, self)

    def get_elided_page_range(self, number: int = 1, *, on_each_side: int = 3, on_ends: int = 2) -> Iterator:
        if not self.estimated:
            yield from super().get_elided_page_range(number, on_each_side=on_each_side, on_ends=on_ends)
            return
        # No links to the last pages: their number is a guess, and each would
        # be an OFFSET through the whole list.
        number = self.validate_number(number)
        first_near = max(1, number - on_each_side)
        if first_near > on_ends + 1:
            yield from range(1, on_ends + 1)
            yield self.ELLIPSIS
        else:
            first_near = 1
        yield from range(first_near, number + on_each_side + 1)
        yield self.ELLIPSIS
