"""Rate limits: the per-key rate, the failed-lookup limit, and atomic counters."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import override_settings

from api.counters import Rate, Window, counter_add
from api.tests.conftest import REDIS_URL, assert_problem, http, make_tenant, post, redis_available
from api.throttles import Leases
from coupons.models import Coupon
from coupons.services import coupon_assign_random
from couponsite.actors import Actor
from couponsite.tests.racing import race

ACTOR = Actor.system("test")


pytestmark = pytest.mark.usefixtures("whole_window")


@override_settings(API_RATE="2/min")
def test_the_rate_is_per_key(tenant, other):
    for _ in range(2):
        tenant.client.get("/api/v1/books")
    assert_problem(tenant.client.get("/api/v1/books"), 429, "throttled")
    assert other.client.get("/api/v1/books").status_code == 200


@override_settings(API_RATE="3/min")
def test_answers_say_the_rate_limit_and_what_is_left_of_it(tenant):
    answers = [tenant.client.get("/api/v1/me") for _ in range(4)]

    assert {answer["RateLimit-Policy"] for answer in answers} == {'"default";q=3;w=60'}
    left = [re.fullmatch(r'"default";r=(\d+);t=(\d+)', answer["RateLimit"]).groups() for answer in answers]
    assert [int(remaining) for remaining, _ in left] == [2, 1, 0, 0]
    assert all(1 <= int(seconds) <= 60 for _, seconds in left)
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]


def test_with_leases_a_process_counts_down_its_own_tokens_and_the_unleased_rest(tenant):
    # 1200/min: each process leases 10 at a time; the first take leaves 1,190 unleased.
    remaining = [int(tenant.client.get("/api/v1/me")["RateLimit"].split("r=")[1].split(";")[0]) for _ in range(12)]

    assert remaining == list(range(1199, 1187, -1))


def test_failed_lookups_past_the_limit_throttle_that_user_only(tenant):
    for i in range(10):
        response = post(tenant.client, f"/api/v1/coupons/lock/GUESS-{i}", {"user_id": "prober"})
        assert_problem(response, 404, "not_found")
    response = post(tenant.client, "/api/v1/coupons/lock/GUESS-X", {"user_id": "prober"})
    assert_problem(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
    response = post(tenant.client, "/api/v1/coupons/lock/GUESS-X", {"user_id": "honest"})
    assert_problem(response, 404, "not_found")


def test_someone_elses_coupon_counts_as_a_failed_lookup(tenant):
    code = coupon_assign_random(
        partner=tenant.book.partner, book_id=tenant.book.pk, user_id="owner", actor=Actor.system("test")
    ).code
    for _ in range(10):
        assert_problem(
            post(tenant.client, f"/api/v1/coupons/redeem/{code}", {"user_id": "thief"}), 409, "coupon_not_held"
        )
    assert_problem(post(tenant.client, f"/api/v1/coupons/redeem/{code}", {"user_id": "thief"}), 429, "throttled")


def test_successful_lookups_do_not_count(tenant):
    code = coupon_assign_random(
        partner=tenant.book.partner, book_id=tenant.book.pk, user_id="shopper", actor=Actor.system("test")
    ).code
    for _ in range(15):
        lock_id = post(tenant.client, f"/api/v1/coupons/lock/{code}", {"user_id": "shopper"}).json()["lock_id"]
        response = post(tenant.client, f"/api/v1/coupons/unlock/{code}", {"user_id": "shopper", "lock_id": lock_id})
        assert response.status_code == 200


@override_settings(FAILED_LOOKUP_LIMIT="3/min")
def test_the_failed_lookup_limit_is_a_setting(tenant):
    for i in range(3):
        post(tenant.client, f"/api/v1/coupons/assign/NOPE-{i}", {"user_id": "prober"})
    assert_problem(post(tenant.client, "/api/v1/coupons/assign/NOPE-9", {"user_id": "prober"}), 429, "throttled")


def _count_in_a_race(times: int) -> list[int]:
    window = Window.current(f"race:{uuid.uuid4()}", 60)
    return race(lambda i: counter_add(window, fall_back_to_database=False), times=times, workers=16)


@pytest.mark.races
@pytest.mark.django_db(transaction=True)
def test_database_counter_is_atomic_under_a_race():
    results = _count_in_a_race(200)
    assert sorted(results) == list(range(1, 201))


@pytest.mark.races
@pytest.mark.skipif(not redis_available(), reason="no Redis at 127.0.0.1:6379")
@pytest.mark.django_db(transaction=True)
@override_settings(REDIS_URL=REDIS_URL)
def test_redis_counter_is_atomic_under_a_race():
    results = _count_in_a_race(200)
    assert sorted(results) == list(range(1, 201))


@pytest.mark.races
@pytest.mark.django_db(transaction=True)
def test_concurrent_guesses_cannot_exceed_the_failed_lookup_limit(live_server):
    tenant = make_tenant()

    def guess(i: int):
        url = f"{live_server.url}/api/v1/coupons/lock/GUESS-{i}"
        return http("POST", url, key=tenant.key, body={"user_id": "prober"}).status

    statuses = race(guess, times=30, workers=15)
    assert statuses.count(404) == 10
    assert statuses.count(429) == 20


@pytest.mark.races
@pytest.mark.django_db(transaction=True)
@override_settings(FAILED_LOOKUP_PARTNER_LIMIT="12/min")
def test_concurrent_reads_of_unknown_codes_cannot_exceed_the_partners_budget(live_server):
    tenant = make_tenant()

    def guess(i: int):
        return http("GET", f"{live_server.url}/api/v1/coupons/GUESS-{i}", key=tenant.key).status

    statuses = race(guess, times=40, workers=16)
    assert statuses.count(404) == 12
    assert statuses.count(429) == 28


@pytest.mark.races
@pytest.mark.django_db(transaction=True)
@override_settings(API_RATE_LEASE=10)
def test_leased_requests_never_let_more_than_the_limit_through_across_processes():
    rate = Rate(limit=1000, seconds=60)
    window = Window.current(f"lease-race:{uuid.uuid4()}", rate.seconds)
    processes = [Leases() for _ in range(5)]

    def requests_of(i: int) -> int:
        leases = processes[i % len(processes)]
        return sum(leases.take("key", window, rate)[0] for _ in range(300))

    allowed = sum(race(requests_of, times=10, workers=10))

    # 3,000 asked: the limit, less at most what each process holds unused.
    assert rate.limit - len(processes) * 9 <= allowed <= rate.limit
    assert counter_add(window, 0, fall_back_to_database=False) >= rate.limit


@pytest.mark.django_db
@override_settings(API_RATE_LEASE=10)
def test_a_lease_serves_ten_requests_with_one_count():
    rate = Rate(limit=1200, seconds=60)
    window = Window.current(f"lease:{uuid.uuid4()}", rate.seconds)
    leases = Leases()

    assert all(leases.take("key", window, rate)[0] for _ in range(95))

    assert counter_add(window, 0, fall_back_to_database=False) == 100


def test_a_user_past_the_limit_can_still_use_the_coupon_it_holds(tenant):
    code = coupon_assign_random(partner=tenant.partner, book_id=tenant.book.pk, user_id="u", actor=ACTOR).code
    for i in range(10):
        assert_problem(post(tenant.client, f"/api/v1/coupons/lock/WRONG-{i}", {"user_id": "u"}), 404, "not_found")
    assert_problem(post(tenant.client, "/api/v1/coupons/lock/WRONG-X", {"user_id": "u"}), 429, "throttled")

    lock_id = post(tenant.client, f"/api/v1/coupons/lock/{code}", {"user_id": "u"}).json()["lock_id"]
    response = post(tenant.client, f"/api/v1/coupons/redeem/{code}", {"user_id": "u", "lock_id": lock_id})

    assert response.status_code == 200
    assert response.json()["state"] == "redeemed"


def test_an_assignment_of_a_given_code_is_refused_at_once_past_the_limit(tenant):
    available = tenant.coupons()[0].code
    for i in range(10):
        post(tenant.client, f"/api/v1/coupons/assign/NOPE-{i}", {"user_id": "prober"})

    response = post(tenant.client, f"/api/v1/coupons/assign/{available}", {"user_id": "prober"})

    assert_problem(response, 429, "throttled")
    assert Coupon.objects.get(code=available).state == "available"


def test_a_key_replays_the_429_it_gave_not_the_failure_it_hid(tenant):
    for i in range(10):
        post(tenant.client, f"/api/v1/coupons/lock/WRONG-{i}", {"user_id": "prober"})

    first = post(tenant.client, "/api/v1/coupons/lock/GUESS", {"user_id": "prober"}, HTTP_IDEMPOTENCY_KEY="k")
    replay = post(tenant.client, "/api/v1/coupons/lock/GUESS", {"user_id": "prober"}, HTTP_IDEMPOTENCY_KEY="k")

    assert_problem(first, 429, "throttled")
    assert_problem(replay, 429, "throttled")
    assert replay["Idempotent-Replayed"] == "true"


@override_settings(FAILED_LOOKUP_LIMIT="3/min")
def test_failures_with_idempotency_keys_count_too(tenant):
    for i in range(3):
        response = post(tenant.client, f"/api/v1/coupons/lock/NOPE-{i}", {"user_id": "u"}, HTTP_IDEMPOTENCY_KEY=f"k{i}")
        assert_problem(response, 404, "not_found")

    response = post(tenant.client, "/api/v1/coupons/lock/NOPE-X", {"user_id": "u"}, HTTP_IDEMPOTENCY_KEY="kx")

    assert_problem(response, 429, "throttled")
