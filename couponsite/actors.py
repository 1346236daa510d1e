"""Who caused a change, recorded on every audit event."""

from __future__ import annotations

import dataclasses
import enum


class ActorKind(enum.StrEnum):
    API_KEY = "api_key"
    STAFF = "staff"
    SYSTEM = "system"


@dataclasses.dataclass(frozen=True)
class Actor:
    kind: ActorKind
    identifier: str  # API key prefix, staff user id, or the system job's name

    @classmethod
    def api_key(cls, prefix: str) -> Actor:
        return cls(ActorKind.API_KEY, prefix)

    @classmethod
    def staff(cls, user_id: int | str) -> Actor:
        return cls(ActorKind.STAFF, str(user_id))

    @classmethod
    def system(cls, job: str = "system") -> Actor:
        return cls(ActorKind.SYSTEM, job)
