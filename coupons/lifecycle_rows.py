"""The rows of the coupon lifecycle table (``Coupon``'s transitions): what
a transition writes besides the state, and how a row becomes a django-fsm
transition method of the model."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django_fsm import transition

if TYPE_CHECKING:
    from coupons.event_types import EventAction
    from coupons.models import Coupon


# What a transition writes besides the state: each field gets one of these.
@dataclasses.dataclass(frozen=True)
class Param:
    """The value the transition's caller passes under ``name``."""

    name: str


@dataclasses.dataclass(frozen=True)
class Clear:
    """NULL."""


@dataclasses.dataclass(frozen=True)
class Add:
    """The field's value plus ``amount``."""

    amount: int


@dataclasses.dataclass(frozen=True)
class RedrawSortKey:
    """A new secret ``sort_key``, drawn above the book's watermark like the keys
    of added codes (``coupons.sort_keys``): a coupon that comes back is exactly
    as likely to be drawn next as any other available one. Written in SQL
    only; the key never leaves the database."""


Effect = Param | Clear | Add | RedrawSortKey


@dataclasses.dataclass(frozen=True)
class Lifecycle:
    """A transition's row of the lifecycle table beyond django-fsm's source and
    target: the event it records and the fields it writes."""

    action: EventAction
    writes: Mapping[str, Effect]


class LifecycleRow:
    """One row of the lifecycle table in the model's body. When the class is
    made, the row becomes a django-fsm transition method of the same name whose
    body is the row's ``writes``: the table is the model's transitions, so the
    one function that performs a transition (``coupons.lifecycle``) and any
    set-based SQL are made from the same row."""

    def __init__(self, *, source: str | list[str], target: str, action: EventAction, writes: Mapping[str, Effect]):
        self.source, self.target = source, target
        self.lifecycle = Lifecycle(action=action, writes=writes)

    def __set_name__(self, owner: type, name: str) -> None:
        writes = self.lifecycle.writes
        wanted = {effect.name for effect in writes.values() if isinstance(effect, Param)}

        def change(coupon: Coupon, **params: Any) -> None:
            if set(params) != wanted:
                raise TypeError(f"{name}() takes {sorted(wanted)}, not {sorted(params)}")
            for field, effect in writes.items():
                if isinstance(effect, Param):
                    setattr(coupon, field, params[effect.name])
                elif isinstance(effect, Clear):
                    setattr(coupon, field, None)
                elif isinstance(effect, Add):
                    setattr(coupon, field, getattr(coupon, field) + effect.amount)

        change.__name__ = change.__qualname__ = name
        custom = {"lifecycle": self.lifecycle}
        setattr(owner, name, transition(field="state", source=self.source, target=self.target, custom=custom)(change))
