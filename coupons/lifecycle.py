"""Performing a transition of the lifecycle table (``Coupon``'s transitions):
the one way a coupon's state changes, one row or many at once.

``TransitionSQL`` is a row of the table as SQL: an ``UPDATE`` of the coupons
in its source states to its target, writing the fields the row names, whose
changed rows feed the ``INSERT`` of their events in the same statement. So
each changed row has its event by construction, whichever path changed it.

``coupon_transition`` changes one coupon loaded under its locks: django-fsm
decides (the transition refuses a state it does not start from) and writes
the fields on the instance, then one statement stores them with the event.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django.utils import timezone
from psycopg.types.json import Jsonb

from coupons.lifecycle_rows import Add, Clear, Lifecycle, Param
from coupons.models import Coupon, CouponState
from coupons.sort_keys import key_above_watermark_sql
from couponsite.actors import Actor
from couponsite.db import prepare_once, send_with_next
from couponsite.metrics import count_transition
from couponsite.request_ids import current_request_id

if TYPE_CHECKING:
    from django_fsm import Transition

# The tail of a set-based transition: a CTE named ``changed`` returning the
# changed rows (``CHANGED_COLUMNS``, ``from_state`` and ``to_state``) feeds this
# INSERT, one event per row, with the partner, the book and the snapshot the
# events feed shows: the coupon as the API shows it after the change, without
# ``lock_id`` (``coupons_api_time`` writes times as the API does), merged with
# ``event_data`` (the layer above's part, a redemption). ``user_id`` of
# ``changed`` is the event's: for a give-back, the user who held the coupon,
# which the snapshot of an available coupon does not show. The transaction id
# is the column's default. Parameters: action, actor_kind, actor_id,
# request_id, redemption_id, event_data, now.
CHANGED_COLUMNS = (
    "id",
    "partner_id",
    "book_id",
    "code",
    "user_id",
    "assigned_at",
    "locked_until",
    "redemption_count",
    "metadata",
)
EVENTS_FROM_CHANGED_SQL = """
INSERT INTO coupons_couponevent
    (coupon_id, partner_id, book_id, action, from_state, to_state, user_id, actor_kind, actor_id, request_id,
     redemption_id, data, created_at)
SELECT changed.id, changed.partner_id, changed.book_id, %(action)s, changed.from_state, changed.to_state,
       changed.user_id, %(actor_kind)s, %(actor_id)s, %(request_id)s, %(redemption_id)s,
       jsonb_build_object(
           'code', changed.code, 'book_id', changed.book_id, 'state', changed.to_state,
           'user_id', CASE WHEN changed.to_state = 'available' THEN NULL ELSE changed.user_id END,
           'assigned_at', coupons_api_time(changed.assigned_at),
           'locked_until', coupons_api_time(changed.locked_until), 'redemption_count', changed.redemption_count,
           'redemptions_remaining', CASE
               WHEN changed.to_state IN ('redeemed', 'void') THEN 0
               WHEN book.max_redemptions_per_coupon IS NULL THEN NULL
               ELSE greatest(book.max_redemptions_per_coupon - changed.redemption_count, 0) END,
           'metadata', changed.metadata
       ) || %(event_data)s::jsonb,
       %(now)s
FROM changed JOIN books_book book ON book.id = changed.book_id
"""


def changed_columns(table: str, **instead: str) -> str:
    """``CHANGED_COLUMNS`` of ``table`` (its name or alias in the UPDATE), for
    its RETURNING; ``instead`` gives some of them another expression
    (``user_id="due.user_id"``: the event names the user who held the coupon)."""
    return ", ".join(
        f"{instead[column]} AS {column}" if column in instead else f"{table}.{column}" for column in CHANGED_COLUMNS
    )


def _transitions(name: str) -> list[Transition]:
    return list(getattr(Coupon, name)._django_fsm.transitions.values())


def lifecycle(name: str) -> Lifecycle:
    """The table row of transition ``name``: its event and the fields it writes."""
    return _transitions(name)[0].custom["lifecycle"]


@dataclasses.dataclass(frozen=True)
class TransitionSQL:
    """A row of the lifecycle table as SQL for ``UPDATE coupons_coupon``:
    ``sources`` for its WHERE (as a SQL list in ``sources_sql``),
    ``set_clause`` (with ``%(name)s`` placeholders for the row's parameters,
    and ``%(now)s``: the application's clock, as everywhere) and the event's
    ``action``."""

    name: str
    sources: tuple[str, ...]
    target: str
    action: str
    set_clause: str
    event_user_id_sql: str

    @classmethod
    @functools.cache
    def of(cls, name: str) -> TransitionSQL:
        transitions = _transitions(name)
        targets = {t.target for t in transitions}
        if len(targets) != 1:
            raise ValueError(f"{name} has several targets; set-based SQL needs one")
        target = targets.pop()
        row = lifecycle(name)
        assignments = [f"state = '{CouponState(target).value}'"]
        for field, effect in row.writes.items():
            if isinstance(effect, Param):
                assignments.append(f"{field} = %({effect.name})s")
            elif isinstance(effect, Clear):
                assignments.append(f"{field} = NULL")
            elif isinstance(effect, Add):
                assignments.append(f"{field} = {field} + {effect.amount:d}")
            else:
                assignments.append(f"{field} = {key_above_watermark_sql(coupon='coupon')}")
        assignments.append("updated_at = %(now)s")
        # A transition that takes the coupon from its holder records who held it.
        clears_holder = isinstance(row.writes.get("user_id"), Clear)
        return cls(
            name=name,
            sources=tuple(sorted(CouponState(t.source).value for t in transitions)),
            target=target,
            action=row.action.value,
            set_clause=", ".join(assignments),
            event_user_id_sql="%(from_user_id)s::text" if clears_holder else "user_id",
        )

    def set_clause_with(self, **columns: str) -> str:
        """``set_clause`` with some parameters taken from columns of the
        statement's rows instead (``user_id="wanted.user_id"``), for a
        set-based transition whose rows each get their own value."""
        clause = self.set_clause
        for name, column in columns.items():
            placeholder = f"%({name})s"
            if placeholder not in clause:
                raise ValueError(f"{self.name} takes no parameter {name}")
            clause = clause.replace(placeholder, column)
        return clause

    @property
    def sources_sql(self) -> str:
        return ", ".join(f"'{source}'" for source in self.sources)

    @functools.cached_property
    def one_row_sql(self) -> str:
        """This transition of the coupon ``%(coupon_id)s``, now in ``%(from_state)s``,
        with its event; an error unless that row changed."""
        return prepare_once(f"""
WITH changed AS (
    UPDATE coupons_coupon AS coupon SET {self.set_clause}
    WHERE coupon.id = %(coupon_id)s AND coupon.state = %(from_state)s
    RETURNING {changed_columns("coupon", user_id=self.event_user_id_sql)}, %(from_state)s::text AS from_state,
        coupon.state AS to_state
), events AS (
    {EVENTS_FROM_CHANGED_SQL} RETURNING 1
)
SELECT coupons_expect_one_changed((SELECT count(*) FROM events), %(what)s)""")  # noqa: S608


def event_parameters(
    *, transition: TransitionSQL, actor: Actor, redemption_id: Any = None, event_data: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "action": transition.action,
        "actor_kind": actor.kind.value,
        "actor_id": actor.identifier,
        "request_id": current_request_id(),
        "redemption_id": redemption_id,
        "event_data": Jsonb(event_data or {}),
    }


def coupon_transition(
    transition: Callable[..., None],
    *,
    actor: Actor,
    redemption_id: Any = None,
    event_data: dict[str, Any] | None = None,
    now: datetime | None = None,
    before: tuple[str, dict[str, Any]] | None = None,
    **params: Any,
) -> None:
    """Make ``transition`` (a bound transition of a coupon the caller has
    locked and checked) and store it, with its event, in one statement, which
    goes out with the transaction's next statement or its COMMIT
    (``couponsite.db.send_with_next``).

    ``event_data`` joins the snapshot the event carries (the layer above's
    part of it: a redemption). ``before`` is a statement of the layer above that belongs with this one
    (a redemption's row), sent just before it: its parameters join this
    statement's (``coupon_id``, ``redemption_id`` and ``now`` are shared)."""
    coupon: Coupon = transition.__self__
    sql = TransitionSQL.of(transition.__name__)
    from_state, from_user_id = coupon.state, coupon.user_id
    now = now or timezone.now()
    transition(**params)
    coupon.updated_at = now
    parameters = {
        **params,
        **event_parameters(transition=sql, actor=actor, redemption_id=redemption_id, event_data=event_data),
        "coupon_id": coupon.pk,
        "from_state": from_state,
        "from_user_id": from_user_id,
        "now": now,
        "what": f"{sql.name} of coupon {coupon.pk} from {from_state}",
    }
    if before is not None:
        send_with_next(before[0], {**before[1], **parameters})
    send_with_next(sql.one_row_sql, parameters)
    count_transition(sql.name)


def queryset_sql(queryset: QuerySet, *, prefix: str) -> tuple[str, dict[str, Any]]:
    """``queryset``'s SQL with named parameters (``%(prefix_0)s``...), to embed
    as a CTE in a statement whose other parameters are named, so that the rows
    a set-based transition takes are chosen by the queryset's own definition.
    Compile it inside the transaction that runs it (FOR UPDATE needs one)."""
    sql, params = queryset.query.sql_with_params()
    names = [f"{prefix}_{i}" for i in range(len(params))]
    return sql % tuple(f"%({name})s" for name in names), dict(zip(names, params, strict=True))
