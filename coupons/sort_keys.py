"""Sort keys: the secret random order of random assignment, fair at every
moment, also after codes are added to a book that is being drawn.

Random assignment takes the available coupon with the lowest ``sort_key``. A
key is a CSPRNG-drawn 63-bit number; keys for coupons added later are drawn
above the book's watermark (``NewSortKeys``), so that old and new coupons are
equally likely to come next.
"""

from __future__ import annotations

import secrets
import struct
from typing import Any

from psycopg import sql

from books.models import Book
from coupons.models import CouponState
from couponsite.locks import LockKind, advisory_xact_lock

SORT_KEY_MAX = 2**63 - 1

# New sort keys are drawn above the book's watermark. When fewer keys than
# this are left above it, or fewer than this factor per new code, the book's
# available coupons are re-keyed over the whole range instead.
MIN_KEY_ROOM = 2**40
MIN_KEY_ROOM_PER_CODE = 2**24

# A CSPRNG 63-bit key drawn by PostgreSQL: gen_random_uuid() uses
# pg_strong_random(). The first 4 and last 12 hex digits of a version 4 UUID are
# all random bits.
RANDOM_KEY_SQL = (
    "(('x' || left(gen_random_uuid()::text, 4) || right(gen_random_uuid()::text, 12))::bit(64)::bigint"
    " & 9223372036854775807)"
)
RANDOM_KEY = sql.SQL(RANDOM_KEY_SQL)

REKEY_OLD_AVAILABLE_SQL = sql.SQL(
    "UPDATE coupons_coupon SET sort_key = {} WHERE book_id = %s AND state = %s AND id <= %s"
).format(RANDOM_KEY)

# Uniform in (watermark, max]: scaling a 63-bit draw errs by under 2**-62 in
# probability, which no sequence of picks can tell apart.
REDRAW_OVERTAKEN_SQL = sql.SQL("""
UPDATE coupons_coupon
SET sort_key = %(watermark)s + 1 + floor({} ::numeric * (%(max)s - %(watermark)s) / (%(max)s::numeric + 1))::bigint
WHERE book_id = %(book)s AND state = %(available)s AND id > %(last_old_id)s AND sort_key <= %(watermark)s
""").format(RANDOM_KEY)


def key_above_watermark_sql(*, coupon: str) -> str:
    """SQL for a new key of the row ``coupon`` (the alias of the table being
    updated), uniform above its book's watermark as the statement sees it:
    the same rule as ``NewSortKeys`` for added codes, so that a coupon that
    comes back (unassigned, or its assignment expired) is exactly as likely to
    be drawn next as every coupon left. Its own old key counts among those
    handed out. Evaluated per row: each row gets its own draw."""
    # Aliases and constants of ours only: no value reaches this text.
    lowest_available = (
        f"(SELECT min(a.sort_key) FROM coupons_coupon a WHERE a.book_id = {coupon}.book_id AND a.state = 'available')"  # noqa: S608
    )
    below_lowest = f"(seen.sort_key < {lowest_available} OR {lowest_available} IS NULL)"
    watermark = f"(SELECT coalesce(max(seen.sort_key), -1) FROM coupons_coupon seen WHERE seen.book_id = {coupon}.book_id AND {below_lowest})"  # noqa: E501, S608
    # Scaling as REDRAW_OVERTAKEN_SQL does; least() keeps one key of room in
    # the (never seen) case of a watermark at the very top.
    draw = (
        f"mark + 1 + floor({RANDOM_KEY_SQL}::numeric * ({SORT_KEY_MAX} - mark) / {SORT_KEY_MAX + 1}::numeric)::bigint"
    )
    return f"(SELECT {draw} FROM (SELECT least({watermark}, {SORT_KEY_MAX - 1}) AS mark) AS watermark)"  # noqa: S608


def random_sort_keys(count: int, *, above: int) -> list[int]:
    """``count`` sort keys, each uniform in ``(above, SORT_KEY_MAX]``.

    Rejection sampling on the smallest power of two covering the range keeps
    the keys exactly uniform (a modulo would favour the low end).
    """
    width = SORT_KEY_MAX - above
    if not 1 <= width <= SORT_KEY_MAX + 1:
        raise ValueError(f"no sort key above {above}")
    mask = (1 << (width - 1).bit_length()) - 1
    offsets: list[int] = []
    while len(offsets) < count:
        missing = count - len(offsets)
        # At least half the draws are accepted.
        draws = 2 * missing + 16
        raw = struct.unpack(f">{draws}Q", secrets.token_bytes(8 * draws))
        offsets.extend(offset for value in raw if (offset := value & mask) < width)
    base = above + 1
    return [base + offset for offset in offsets[:count]]


class NewSortKeys:
    """Sort keys for coupons added to a book, fair to the coupons already in it.

    Random assignment takes the available coupon with the lowest key, so every
    key below the book's lowest available key has been handed out. The largest
    of those is the watermark: the book's remaining coupons have keys uniform
    above it, and new keys drawn uniform above it are exactly as likely to come
    next. Keys drawn over the whole range instead would put most new codes
    ahead of the remaining old ones.

    Created first in the load's transaction: it takes the book's codes lock so
    that two loads of one book run one after the other.
    """

    def __init__(self, cursor: Any, *, book: Book) -> None:
        advisory_xact_lock(LockKind.BOOK_CODES, book.pk)
        self._cursor = cursor
        self._book_id = book.pk
        # Every coupon added from here on gets a larger id (ids come from one sequence).
        cursor.execute("SELECT coalesce(max(id), 0) FROM coupons_coupon")
        self._last_old_id = cursor.fetchone()[0]
        self._lowest_available = self._lowest_available_key()
        self.watermark = self._watermark_below(self._lowest_available)
        self._rekey = False

    def make_room(self, *, adding: int) -> bool:
        """When the range above the watermark is short, draw new keys over the
        whole range and re-key the book's available coupons the same way at
        :meth:`finish`; returns whether it will."""
        room = SORT_KEY_MAX - self.watermark
        if room >= max(MIN_KEY_ROOM, adding * MIN_KEY_ROOM_PER_CODE):
            return False
        self.watermark = -1
        self._rekey = True
        return True

    def draw(self, count: int) -> list[int]:
        return random_sort_keys(count, above=self.watermark)

    def finish(self) -> None:
        """Last step before commit: re-key, or draw again the new keys that
        random assignments have overtaken meanwhile.

        Both happen at the end because the load's new coupons stay invisible
        until commit while assignments go on taking the old ones, raising the
        watermark; and because rows re-keyed stay locked until commit, which
        random assignment (SKIP LOCKED) would read as an exhausted book.
        """
        if self._rekey:
            self._cursor.execute(REKEY_OLD_AVAILABLE_SQL, [self._book_id, CouponState.AVAILABLE, self._last_old_id])
            return
        if self._lowest_available is None:
            # No old coupon was available, so none can have been taken meanwhile.
            return
        watermark = self._watermark_below(self._lowest_available_key())
        if watermark <= self.watermark:
            return
        self._cursor.execute(
            REDRAW_OVERTAKEN_SQL,
            {
                "watermark": watermark,
                "max": SORT_KEY_MAX,
                "book": self._book_id,
                "available": CouponState.AVAILABLE,
                "last_old_id": self._last_old_id,
            },
        )

    def _lowest_available_key(self) -> int | None:
        self._cursor.execute(
            "SELECT min(sort_key) FROM coupons_coupon WHERE book_id = %s AND state = %s AND id <= %s",
            [self._book_id, CouponState.AVAILABLE, self._last_old_id],
        )
        return self._cursor.fetchone()[0]

    def _watermark_below(self, lowest_available: int | None) -> int:
        """The largest old key below ``lowest_available`` (the largest old key
        when None), or -1 when there is none."""
        query = "SELECT max(sort_key) FROM coupons_coupon WHERE book_id = %s AND id <= %s"
        params = [self._book_id, self._last_old_id]
        if lowest_available is not None:
            query += " AND sort_key < %s"
            params.append(lowest_available)
        self._cursor.execute(query, params)
        highest = self._cursor.fetchone()[0]
        return -1 if highest is None else highest
