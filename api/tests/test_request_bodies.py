"""The hot path's request bodies are parsed by one serializer instance per
class (``validated``): what it accepts and refuses is exactly what a fresh
serializer's ``is_valid`` gives, and nothing stays on it between requests."""

import uuid

import pytest
from rest_framework.exceptions import ValidationError

from api.serializers import AssignRandomSerializer, RedeemSerializer, UnlockSerializer, UserSerializer, validated

LOCK_ID = "5a8b3c1e-6f0d-4c2a-9b7e-1d2c3b4a5f60"
BODIES = [
    (AssignRandomSerializer, {"book_id": 7, "user_id": "u-1"}),
    (AssignRandomSerializer, {"book_id": "7", "user_id": "u-1"}),
    (AssignRandomSerializer, {"book_id": 7, "user_id": 969401}),
    (AssignRandomSerializer, {"user_id": ""}),
    (AssignRandomSerializer, []),
    (AssignRandomSerializer, None),
    (UserSerializer, {"user_id": "u-1", "extra": True}),
    (UserSerializer, {"user_id": "x" * 129}),
    (UnlockSerializer, {"user_id": "u-1", "lock_id": LOCK_ID}),
    (UnlockSerializer, {"user_id": "u-1", "lock_id": 12}),
    (RedeemSerializer, {"user_id": "u-1", "metadata": {"order": "A-1"}}),
    (RedeemSerializer, {"user_id": "u-1", "lock_id": None}),
    (RedeemSerializer, {"user_id": "u-1", "metadata": {"big": "x" * 5000}}),
    (RedeemSerializer, {"user_id": "u-1", "metadata": "not an object"}),
]


def fresh(serializer_class, data):
    serializer = serializer_class(data=data)
    if serializer.is_valid():
        return "valid", dict(serializer.validated_data)
    return "invalid", serializer.errors


def by_one_instance(serializer_class, data):
    try:
        return "valid", validated(serializer_class, data)
    except ValidationError as error:
        return "invalid", error.detail


@pytest.mark.parametrize(("serializer_class", "data"), BODIES)
def test_one_instance_accepts_and_refuses_as_a_fresh_serializer_does(serializer_class, data):
    assert by_one_instance(serializer_class, data) == fresh(serializer_class, data)


def test_nothing_of_one_body_stays_for_the_next():
    refused = by_one_instance(UnlockSerializer, {"user_id": "u-1", "lock_id": 12})
    accepted = by_one_instance(UnlockSerializer, {"user_id": "u-2", "lock_id": LOCK_ID})

    assert refused[0] == "invalid" and set(refused[1]) == {"lock_id"}
    assert accepted == ("valid", {"user_id": "u-2", "lock_id": uuid.UUID(LOCK_ID)})
