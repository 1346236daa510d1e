"""The limits hold across processes, not only threads: each worker here is a
forked process with its own PostgreSQL connection, as gunicorn workers or
several servers would be."""

import collections
import multiprocessing

import pytest
from django.db import connections

from books.tests.factories import BookFactory
from coupons.models import Coupon, CouponState
from coupons.services import coupon_assign_code, coupon_assign_random
from coupons.tests.factories import make_coupons
from couponsite.actors import Actor
from couponsite.errors import ServiceError
from redemptions.models import Redemption
from redemptions.services import coupon_redeem

pytestmark = [pytest.mark.races, pytest.mark.django_db(transaction=True)]
PROCESSES = 4
ACTOR = Actor.api_key("processes")


def _outcome(call) -> str:
    try:
        call()
    except ServiceError as error:
        return error.code
    return "ok"


def _assign_many(book, worker: int, calls: int) -> list[str]:
    return [
        _outcome(
            lambda i=i: coupon_assign_random(
                partner=book.partner, book_id=book.pk, user_id=f"p{worker}-u{i}", actor=ACTOR
            )
        )
        for i in range(calls)
    ]


def _redeem_many(coupon, calls: int) -> list[str]:
    return [
        _outcome(lambda: coupon_redeem(partner=coupon.partner, code=coupon.code, user_id="alice", actor=ACTOR))
        for _ in range(calls)
    ]


def _in_child(task, *args) -> list[str]:
    try:
        return task(*args)
    finally:
        connections.close_all()


def run_in_processes(task, args_per_process: list[tuple]) -> collections.Counter:
    # Children must not share the parent's connection: close it before forking
    # so that each process opens its own.
    connections.close_all()
    with multiprocessing.get_context("fork").Pool(PROCESSES) as pool:
        results = pool.starmap(_in_child, [(task, *args) for args in args_per_process])
    return collections.Counter(outcome for result in results for outcome in result)


def test_random_assignments_from_four_processes_hand_out_each_code_once():
    book = BookFactory()
    make_coupons(book, 150)

    outcomes = run_in_processes(_assign_many, [(book, worker, 60) for worker in range(PROCESSES)])

    assert outcomes == {"ok": 150, "book_exhausted": 90}
    assigned = Coupon.objects.filter(book=book, state=CouponState.ASSIGNED)
    assert assigned.count() == 150
    assert assigned.values("user_id").distinct().count() == 150


def test_a_gift_card_redeemed_from_four_processes_is_used_exactly_its_limit():
    book = BookFactory(max_redemptions_per_coupon=5)
    (coupon,) = make_coupons(book, 1)
    coupon_assign_code(partner=book.partner, code=coupon.code, user_id="alice", actor=ACTOR)

    outcomes = run_in_processes(_redeem_many, [(coupon, 10)] * PROCESSES)

    assert outcomes == {"ok": 5, "coupon_redeemed": 35}
    stored = Coupon.objects.get(pk=coupon.pk)
    assert (stored.state, stored.redemption_count) == (CouponState.REDEEMED, 5)
    assert Redemption.objects.filter(coupon=coupon).count() == 5
