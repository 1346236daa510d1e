"""Performing a transition of the lifecycle table (``Coupon``'s transitions):
the one way a coupon's state changes, one row or many at once.

``coupon_transition`` changes one coupon loaded under its locks: it makes the
django-fsm transition, saves exactly the fields the table says it writes and
records the event. ``TransitionSQL`` is the same row of the table as SQL, for
paths that change many rows in one statement; ``EVENTS_FROM_CHANGED_SQL``
writes their events in that same statement, so that each changed row has its
event by construction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django_guid import get_guid

from coupons.models import Clear, Coupon, CouponEvent, CouponState, Lifecycle, Param
from couponsite.actors import Actor

if TYPE_CHECKING:
    from django_fsm import Transition


def _transitions(name: str) -> list[Transition]:
    return list(getattr(Coupon, name)._django_fsm.transitions.values())


def lifecycle(name: str) -> Lifecycle:
    """The table row of transition ``name``: its event and the fields it writes."""
    return _transitions(name)[0].custom["lifecycle"]


def coupon_transition(
    transition: Callable[..., None], *, actor: Actor, redemption_id: Any = None, **params: Any
) -> CouponEvent:
    """Make ``transition`` (a bound transition of a coupon the caller has
    locked and checked), save what it wrote and record its event."""
    coupon: Coupon = transition.__self__
    row = lifecycle(transition.__name__)
    from_state = coupon.state
    transition(**params)
    coupon.save(update_fields=["state", *row.writes, "updated_at"])
    return CouponEvent.objects.create(
        coupon=coupon,
        action=row.action,
        from_state=from_state,
        to_state=coupon.state,
        user_id=coupon.user_id,
        actor_kind=actor.kind,
        actor_id=actor.identifier,
        request_id=get_guid() or "",
        redemption_id=redemption_id,
    )


@dataclasses.dataclass(frozen=True)
class TransitionSQL:
    """A row of the lifecycle table as SQL for ``UPDATE coupons_coupon``:
    ``sources`` for its WHERE, ``set_clause`` (with ``%(name)s`` placeholders
    for the row's parameters, and ``%(now)s``: the application's clock, which
    the single-row path uses too) and the event's ``action``."""

    sources: tuple[str, ...]
    target: str
    action: str
    set_clause: str

    @classmethod
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
            else:
                assignments.append(f"{field} = {field} + {effect.amount:d}")
        assignments.append("updated_at = %(now)s")
        return cls(
            sources=tuple(sorted(CouponState(t.source).value for t in transitions)),
            target=target,
            action=row.action.value,
            set_clause=", ".join(assignments),
        )


# The tail of a set-based transition: a CTE named ``changed`` returning the
# changed rows (``id``, ``from_state``, ``to_state``, ``user_id``) feeds this
# INSERT, one event per row. Parameters: action, actor_kind, actor_id, request_id, now.
EVENTS_FROM_CHANGED_SQL = """
INSERT INTO coupons_couponevent
    (coupon_id, action, from_state, to_state, user_id, actor_kind, actor_id, request_id, created_at)
SELECT id, %(action)s, from_state, to_state, user_id, %(actor_kind)s, %(actor_id)s, %(request_id)s, %(now)s
FROM changed
"""


def event_parameters(*, transition: TransitionSQL, actor: Actor) -> dict[str, str]:
    return {
        "action": transition.action,
        "actor_kind": actor.kind.value,
        "actor_id": actor.identifier,
        "request_id": get_guid() or "",
    }


def queryset_sql(queryset: QuerySet, *, prefix: str) -> tuple[str, dict[str, Any]]:
    """``queryset``'s SQL with named parameters (``%(prefix_0)s``...), to embed
    as a CTE in a statement whose other parameters are named, so that the rows
    a set-based transition takes are chosen by the queryset's own definition.
    Compile it inside the transaction that runs it (FOR UPDATE needs one)."""
    sql, params = queryset.query.sql_with_params()
    names = [f"{prefix}_{i}" for i in range(len(params))]
    return sql % tuple(f"%({name})s" for name in names), dict(zip(names, params, strict=True))
