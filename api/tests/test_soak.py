"""Soak: sustained mixed partner traffic through real gunicorn processes sharing one database.

Left out of the default run (marker ``slow``):

    .venv/bin/pytest api/tests/test_soak.py -m slow -p no:xdist -q -s

``SOAK_SECONDS`` (default 45) and ``SOAK_MAX_REQUESTS`` (default 50,000) bound
a run; ``SOAK_SEED`` (default: random, printed) fixes the clients' choices, though
not how threads and servers interleave them. The clients know only what the API
answered them; afterwards the database must agree with every answer exactly and
hold every invariant of DESIGN.md.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import random
import re
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable

import pytest
from django.conf import settings
from django.db import connection

from api.problems import PROBLEM_CONTENT_TYPE
from api.tests.live_gunicorn import Server, start_gunicorn, stop_gunicorn
from books.models import Book
from books.services import api_key_issue, book_create, partner_create
from coupons.generation import codes_generate
from coupons.models import Coupon, CouponEvent, CouponState, EventAction
from coupons.services import locks_release_expired
from coupons.tests.factories import OPERATOR
from couponsite.actors import Actor, ActorKind
from couponsite.errors import ERRORS
from couponsite.tests.servers import database_url, free_port
from redemptions.models import Redemption

SECONDS = float(os.environ.get("SOAK_SECONDS", "45"))
MAX_REQUESTS = int(os.environ.get("SOAK_MAX_REQUESTS", "50000"))
SEED = os.environ.get("SOAK_SEED") or secrets.token_hex(4)
CLIENTS = 16
SERVER_WORKERS = 3
# Threads per worker: twelve requests in the engine at once instead of three,
# so that more of them interleave inside the database.
SERVER_THREADS = 4
# Short enough that checkouts outlive their locks during the run.
LOCK_TIMEOUT = 2
USERS = [f"soak-user-{n:03d}" for n in range(200)]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(int(SECONDS) + 300),  # pytest.ini's 600 s would cut a longer soak short
]

S = CouponState
A = EventAction
# Every transition an event may record: action -> allowed (from, to) pairs.
TRANSITIONS = {
    A.ASSIGN: {(S.AVAILABLE, S.ASSIGNED)},
    A.LOCK: {(S.ASSIGNED, S.LOCKED)},
    A.UNLOCK: {(S.LOCKED, S.ASSIGNED)},
    A.LOCK_EXPIRED: {(S.LOCKED, S.ASSIGNED)},
    A.REDEEM: {(S.ASSIGNED, S.ASSIGNED), (S.ASSIGNED, S.REDEEMED), (S.LOCKED, S.ASSIGNED), (S.LOCKED, S.REDEEMED)},
    A.ROLLBACK: {(S.REDEEMED, S.ASSIGNED), (S.ASSIGNED, S.ASSIGNED), (S.LOCKED, S.LOCKED)},
}


# --------------------------------------------------------------------------- the servers


@pytest.fixture
def servers(transactional_db, tmp_path):
    """The repository's gunicorn.conf.py on a free local port, on the test database."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_ENV": "test",
        "DATABASE_URL": database_url(connection.settings_dict),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(SERVER_WORKERS),
        "GUNICORN_THREADS": str(SERVER_THREADS),
        "LOCK_TIMEOUT_SECONDS": str(LOCK_TIMEOUT),
        # Rate limits would turn traffic away before it reaches the engine; they have their own tests.
        "API_RATE": "10000000/min",
        "FAILED_LOOKUP_LIMIT": "10000000/min",
        "LOG_LEVEL": "WARNING",
    }
    server = Server(port=port, env=env, log=tmp_path / "gunicorn.log")
    try:
        start_gunicorn(server)
        yield server
    finally:
        stop_gunicorn(server)


# --------------------------------------------------------------------------- the clients


@dataclasses.dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    request_id: str

    @property
    def replayed(self) -> bool:
        return self.headers.get("idempotent-replayed") == "true"

    @property
    def code(self) -> str | None:
        """The problem's code; None for a success or a body that is no problem."""
        if self.status < 400:
            return None
        try:
            return self.json().get("code")
        except (ValueError, AttributeError):
            return None

    def json(self) -> dict:
        return json.loads(self.body)


@dataclasses.dataclass
class Coupons:
    """What the clients were told, under one lock: the oracle for the database."""

    assigned: dict[str, tuple[str, int]] = dataclasses.field(default_factory=dict)  # code -> (user, book)
    held: list[str] = dataclasses.field(default_factory=list)
    redemptions: set[str] = dataclasses.field(default_factory=set)
    rolled_back: set[str] = dataclasses.field(default_factory=set)
    # Request id of every answer that changed something -> the event it must have written.
    effects: dict[str, str] = dataclasses.field(default_factory=dict)


class Soak:
    """Clients drawing random partner requests until time or the request budget runs out."""

    def __init__(self, *, port: int, key: str, single: Book, gift: Book, codes: list[str]) -> None:
        self.port = port
        self.key = key
        self.single = single
        self.gift = gift
        self.codes = codes
        self.lock = threading.Lock()
        self.seen = Coupons()
        self.answers: Counter[str] = Counter()
        self.checks: Counter[str] = Counter()
        self.failures: list[str] = []
        self.requests = 0
        # The clock starts now: the cron thread stops with the clients.
        self.started = time.monotonic()
        self.deadline = self.started + SECONDS
        self.mix: list[tuple[Callable[[random.Random], None], int]] = [
            (lambda rng: self.assign_random(rng, self.single), 12),
            (lambda rng: self.assign_random(rng, self.gift), 8),
            (self.assign_code, 5),
            (self.checkout, 20),
            (self.redeem_unlocked, 10),
            (self.lock_and_walk_away, 3),
            (self.rollback, 8),
            (self.wrong_user, 2),
            (self.read, 25),
        ]

    # ---- running

    def run(self) -> float:
        threads = [threading.Thread(target=self.client, args=(n,), name=f"soak-client-{n}") for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.monotonic() - self.started

    def running(self) -> bool:
        with self.lock:
            return time.monotonic() < self.deadline and self.requests < MAX_REQUESTS

    def client(self, n: int) -> None:
        rng = random.Random(f"{SEED}-{n}")
        actions, weights = zip(*self.mix, strict=True)
        while self.running():
            try:
                rng.choices(actions, weights)[0](rng)
            except Exception as error:  # noqa: BLE001 - every surprise is reported at the end
                self.fail(f"client {n}: {type(error).__name__}: {error}")

    def fail(self, message: str) -> None:
        with self.lock:
            self.failures.append(message)

    def count(self, name: str) -> None:
        with self.lock:
            self.checks[name] += 1

    # ---- HTTP

    def send(self, method: str, path: str, body: dict | None = None, *, idempotency_key: str | None = None) -> Answer:
        headers = {"Authorization": f"Api-Key {self.key}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        with self.lock:
            self.requests += 1
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, f"/api/v1/{path}", body=data, headers=headers)
            response = conn.getresponse()
            # The server's own id of the request, which its events carry.
            answer = Answer(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
                response.getheader("X-Request-ID"),
            )
        finally:
            conn.close()
        self.check_shape(method, path, answer)
        return answer

    def check_shape(self, method: str, path: str, answer: Answer) -> None:
        """2xx JSON, or a problem+json of a contract code with that code's status; never 5xx."""
        code = answer.code
        with self.lock:
            self.answers[f"{answer.status} {code or ''}".strip()] += 1
        where = f"{method} {path} -> {answer.status} {answer.body[:300]!r}"
        if not 200 <= answer.status < 500:
            self.fail(f"server error or unexpected status: {where}")
        elif answer.status < 300 and answer.headers.get("content-type") != "application/json":
            self.fail(f"success that is not JSON: {where}")
        elif answer.status >= 400:
            if answer.headers.get("content-type") != PROBLEM_CONTENT_TYPE:
                self.fail(f"error without problem+json: {where}")
            elif (
                code not in ERRORS
                or answer.status != ERRORS[code].status
                or answer.json().get("status") != answer.status
            ):
                self.fail(f"unknown code or wrong status: {where}")

    def post(self, rng: random.Random, path: str, body: dict, allowed: set) -> list[Answer]:
        """POST the way partners' backends do: mostly plain; sometimes twice at
        once (a double click); sometimes with an Idempotency-Key that is retried,
        sent twice at once, or reused for another request. Returns the answers
        that may have acted; the others must not have."""
        mode = rng.random()
        if mode < 0.6:
            acted = [self.send("POST", path, body)]
        elif mode < 0.72:
            key = f"retry-{uuid.uuid4()}"
            acted = [self.send("POST", path, body, idempotency_key=key)]
            self.expect_replay(acted[0], self.send("POST", path, body, idempotency_key=key))
        elif mode < 0.82:
            acted = [self.same_key_twice_at_once(path, body)]
        elif mode < 0.92:
            acted = self.at_once(lambda: self.send("POST", path, body), lambda: self.send("POST", path, body))
            self.count("double click")
        else:
            key = f"reuse-{uuid.uuid4()}"
            acted = [self.send("POST", path, body, idempotency_key=key)]
            other = {**body, "user_id": f"{body['user_id']}-x"} if "user_id" in body else {**body, "reason": "other"}
            refused = self.send("POST", path, other, idempotency_key=key)
            if (refused.status, refused.code) != (422, "idempotency_key_reused"):
                self.fail(f"reused key on {path}: {refused.status} {refused.body[:200]!r}")
            self.count("idempotency key reused: 422")
        for answer in acted:
            outcome = answer.status if answer.status < 400 else answer.code
            if outcome not in allowed:
                self.fail(f"POST {path}: {answer.status} {answer.body[:300]!r}, expected {sorted(map(str, allowed))}")
        return acted

    @staticmethod
    def at_once(first: Callable[[], Answer], second: Callable[[], Answer]) -> list[Answer]:
        answers: list[Answer] = []
        errors: list[Exception] = []

        def call(send: Callable[[], Answer]) -> None:
            try:
                answers.append(send())
            except Exception as error:  # noqa: BLE001 - raised below, in the client's thread
                errors.append(error)

        other = threading.Thread(target=call, args=(second,))
        other.start()
        call(first)
        other.join()
        if errors:
            raise errors[0]
        return answers

    def same_key_twice_at_once(self, path: str, body: dict) -> Answer:
        """One answer acts; the other is its replay, or told the key is in flight."""
        key = f"twice-{uuid.uuid4()}"
        answers = self.at_once(*[lambda: self.send("POST", path, body, idempotency_key=key)] * 2)
        in_flight = [a for a in answers if a.code == "idempotency_key_in_flight"]
        originals = [a for a in answers if not a.replayed and a not in in_flight]
        if len(originals) != 1:
            self.fail(f"same key twice at once on {path}: {[(a.status, a.replayed, a.body[:100]) for a in answers]}")
            return answers[0]
        for other in answers:
            if other not in originals + in_flight:
                self.expect_replay(originals[0], other)
        self.count(f"same key twice at once: {'in flight' if in_flight else 'replayed'}")
        return originals[0]

    def expect_replay(self, original: Answer, again: Answer) -> None:
        if original.replayed or not again.replayed:
            self.fail(f"replay headers: first {original.replayed}, again {again.replayed}")
        if (again.status, again.body) != (original.status, original.body):
            self.fail(f"replay differs: {original.status} {original.body!r} then {again.status} {again.body!r}")
        self.count("idempotent replay")

    def acted(self, answer: Answer, action: str) -> None:
        with self.lock:
            self.seen.effects[answer.request_id] = action

    # ---- what the clients do

    def user(self, rng: random.Random) -> str:
        """A quarter of the traffic comes from a few busy users, so that limits bite under races."""
        return rng.choice(USERS[:8] if rng.random() < 0.25 else USERS)

    def pick_held(self, rng: random.Random) -> tuple[str, str] | None:
        with self.lock:
            if not self.seen.held:
                return None
            code = rng.choice(self.seen.held)
            return code, self.seen.assigned[code][0]

    def assign_random(self, rng: random.Random, book: Book) -> None:
        user = self.user(rng)
        body = {"book_id": book.pk, "user_id": user}
        for answer in self.post(rng, "coupons/assign", body, {201, "book_exhausted", "assignment_limit_reached"}):
            if answer.status == 201:
                self.assigned(answer, user=user, book=book)

    def assign_code(self, rng: random.Random) -> None:
        code, user = rng.choice(self.codes), self.user(rng)
        # Codes match in any case.
        path = f"coupons/assign/{code.lower()}"
        for answer in self.post(rng, path, {"user_id": user}, {201, "coupon_unavailable", "assignment_limit_reached"}):
            if answer.status == 201:
                book = self.single if answer.json()["book_id"] == self.single.pk else self.gift
                self.assigned(answer, user=user, book=book)

    def assigned(self, answer: Answer, *, user: str, book: Book) -> None:
        coupon = answer.json()
        if (coupon["user_id"], coupon["book_id"], coupon["state"]) != (user, book.pk, S.ASSIGNED):
            self.fail(f"assigned coupon reads {coupon} for {user} in book {book.pk}")
        with self.lock:
            if coupon["code"] in self.seen.assigned:
                self.failures.append(f"{coupon['code']} assigned twice: {self.seen.assigned[coupon['code']]}, {user}")
                return
            self.seen.assigned[coupon["code"]] = (user, book.pk)
            self.seen.held.append(coupon["code"])
            self.seen.effects[answer.request_id] = A.ASSIGN

    def lock_coupon(self, rng: random.Random, code: str, user: str) -> tuple[str, float] | None:
        """Lock; the lock id and the moment before asking, from when the lock
        surely lasts LOCK_TIMEOUT seconds."""
        asked = time.time()
        lock_id = None
        for answer in self.post(
            rng, f"coupons/lock/{code}", {"user_id": user}, {200, "coupon_locked", "coupon_redeemed"}
        ):
            if answer.status == 200:
                if lock_id is not None:
                    self.fail(f"{code} locked twice at once")
                lock_id = answer.json()["lock_id"]
                self.acted(answer, A.LOCK)
        return (lock_id, asked) if lock_id else None

    def checkout(self, rng: random.Random) -> None:
        """Lock, pay (sometimes longer than the lock lasts), then redeem or give up."""
        held = self.pick_held(rng)
        if held is None:
            return self.assign_random(rng, self.single)
        code, user = held
        locked = self.lock_coupon(rng, code, user)
        if locked is None:
            return None
        lock_id, asked = locked
        # Mostly quick; some pay close to the lock's end or past it.
        slow = rng.random() < 0.3
        time.sleep(rng.uniform(0.5, LOCK_TIMEOUT + 1.0) if slow else rng.uniform(0, 0.2))
        then = rng.random()
        if then < 0.65:
            answers = self.post(
                rng,
                f"coupons/redeem/{code}",
                {"user_id": user, "lock_id": lock_id, "metadata": {"order": f"order-{uuid.uuid4()}"}},
                {200, "coupon_locked", "coupon_redeemed"},
            )
            self.redeemed(answers, code)
        elif then < 0.9:
            answers = self.post(
                rng,
                f"coupons/unlock/{code}",
                {"user_id": user, "lock_id": lock_id},
                {200, "coupon_locked", "coupon_not_locked"},
            )
            if [a.status for a in answers].count(200) > 1:
                self.fail(f"{code} unlocked twice at once")
            for answer in answers:
                if answer.status == 200:
                    self.acted(answer, A.UNLOCK)
        else:
            return None  # abandoned: the lock runs out
        # Nobody but its holder can end a live lock, so one that surely still held must have worked.
        if time.time() < asked + LOCK_TIMEOUT:
            self.count("checkout within the lock")
            if all(answer.status != 200 for answer in answers):
                self.fail(f"{code}: live lock {lock_id} refused: {[(a.status, a.body[:200]) for a in answers]}")
        else:
            self.count("checkout after the lock ran out: " + " ".join(str(a.code or a.status) for a in answers))
        return None

    def lock_and_walk_away(self, rng: random.Random) -> None:
        held = self.pick_held(rng)
        if held is not None:
            self.lock_coupon(rng, *held)

    def redeem_unlocked(self, rng: random.Random) -> None:
        held = self.pick_held(rng)
        if held is None:
            return
        code, user = held
        answers = self.post(
            rng,
            f"coupons/redeem/{code}",
            {"user_id": user, "metadata": {"order": f"order-{uuid.uuid4()}"}},
            {200, "coupon_locked", "coupon_redeemed"},
        )
        self.redeemed(answers, code)

    def redeemed(self, answers: list[Answer], code: str) -> None:
        for answer in answers:
            if answer.status != 200:
                continue
            coupon = answer.json()
            remaining = coupon["redemptions_remaining"]
            if coupon["code"] != code or (coupon["state"] == S.REDEEMED) != (remaining == 0):
                self.fail(f"redeemed coupon reads {coupon}")
            with self.lock:
                self.seen.redemptions.add(coupon["redemption"]["id"])
                self.seen.effects[answer.request_id] = A.REDEEM

    def rollback(self, rng: random.Random) -> None:
        with self.lock:
            # Mostly live redemptions; now and then one rolled back already.
            pool = sorted(self.seen.rolled_back if rng.random() < 0.2 else self.seen.redemptions)
            redemption = rng.choice(pool) if pool else None
        if redemption is None:
            return self.redeem_unlocked(rng)
        path = f"redemptions/{redemption}/rollback"
        for answer in self.post(rng, path, {"reason": "order cancelled"}, {200, "redemption_rolled_back"}):
            if answer.status == 200:
                with self.lock:
                    if redemption in self.seen.rolled_back:
                        self.failures.append(f"redemption {redemption} rolled back twice")
                    self.seen.rolled_back.add(redemption)
                    self.seen.effects[answer.request_id] = A.ROLLBACK
        return None

    def wrong_user(self, rng: random.Random) -> None:
        held = self.pick_held(rng)
        if held is None:
            return
        code, holder = held
        intruder = rng.choice([u for u in USERS if u != holder])
        action = rng.choice(["lock", "redeem"])
        self.post(rng, f"coupons/{action}/{code}", {"user_id": intruder}, {"coupon_not_held"})

    def read(self, rng: random.Random) -> None:
        held = self.pick_held(rng)
        kind = rng.random()
        if held is None or kind < 0.2:
            book = rng.choice([self.single, self.gift])
            answer = self.get(f"books/{book.pk}")
            counts = answer.json()["counts"]
            if counts["total"] != sum(v for k, v in counts.items() if k != "total"):
                self.fail(f"book {book.pk} counts do not add up: {counts}")
            return
        code, user = held
        if kind < 0.5:
            coupon = self.get(f"coupons/{code}").json()
            book = self.single if coupon["book_id"] == self.single.pk else self.gift
            limit = book.max_redemptions_per_coupon
            if coupon["user_id"] != user or not 0 <= coupon["redemption_count"] <= limit:
                self.fail(f"{code} of {user} reads {coupon}")
        elif kind < 0.75:
            events = self.get(f"coupons/{code}/history").json()["results"]
            states = [S.AVAILABLE] + [e["to_state"] for e in events]
            if [e["from_state"] for e in events] != states[:-1]:
                self.fail(
                    f"{code} history does not chain: {[(e['action'], e['from_state'], e['to_state']) for e in events]}"
                )
        else:
            mine = self.get(f"users/{user}/coupons?book_id={self.single.pk}").json()["results"]
            if len(mine) > self.single.max_codes_per_user:
                self.fail(f"{user} holds {len(mine)} coupons of the single-use book")

    def get(self, path: str) -> Answer:
        answer = self.send("GET", path)
        if answer.status != 200:
            self.fail(f"GET {path}: {answer.status} {answer.body[:300]!r}")
        return answer


# --------------------------------------------------------------------------- cron


class Cron(threading.Thread):
    """``release_expired_locks`` every half second while the clients run, as
    cron would (more often); the locks of the last seconds are left to the command."""

    def __init__(self, soak: Soak) -> None:
        super().__init__(name="soak-cron")
        self.soak = soak
        self.stopping = threading.Event()
        self.released = 0
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            while self.soak.running() and not self.stopping.wait(0.5):
                try:
                    self.released += locks_release_expired(actor=Actor.system("soak-cron"))
                except Exception as error:  # noqa: BLE001 - asserted on by the test
                    self.errors.append(repr(error))
        finally:
            connection.close()


def release_expired_locks_command(server: Server) -> int:
    done = subprocess.run(
        [sys.executable, "manage.py", "release_expired_locks"],
        cwd=settings.BASE_DIR,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    match = re.search(r"Released ([\d,]+) expired locks", done.stdout)
    assert match, done.stdout
    return int(match.group(1).replace(",", ""))


# --------------------------------------------------------------------------- the database afterwards


def held_advisory_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchone()[0]


def check_coupon(coupon: Coupon, events: list[CouponEvent], redemptions: list[Redemption]) -> list[str]:
    """One coupon against its history and its redemptions."""
    problems = []
    limit = coupon.book.max_redemptions_per_coupon
    live = [r for r in redemptions if r.rolled_back_at is None]
    if coupon.redemption_count != len(live):
        problems.append(f"redemption_count {coupon.redemption_count}, live redemptions {len(live)}")
    if limit is not None and coupon.redemption_count > limit:
        problems.append(f"redeemed {coupon.redemption_count} times, limit {limit}")
    if limit is not None and (coupon.state == S.REDEEMED) != (coupon.redemption_count == limit):
        problems.append(f"state {coupon.state} with {coupon.redemption_count} of {limit} uses")
    if (coupon.state == S.AVAILABLE) != (coupon.user_id is None) or (coupon.state == S.AVAILABLE) != (not events):
        problems.append(f"state {coupon.state}, user {coupon.user_id}, {len(events)} events")
    state, uses = S.AVAILABLE, 0
    for event in events:
        if (event.from_state, event.to_state) not in TRANSITIONS[event.action] or event.from_state != state:
            problems.append(f"event {event.pk} {event.action} {event.from_state}->{event.to_state} after {state}")
        if event.user_id != coupon.user_id:
            problems.append(f"event {event.pk} names {event.user_id}, coupon held by {coupon.user_id}")
        state = event.to_state
        uses += {A.REDEEM: 1, A.ROLLBACK: -1}.get(event.action, 0)
    if state != coupon.state:
        problems.append(f"events end in {state}, coupon is {coupon.state}")
    if uses != coupon.redemption_count:
        problems.append(f"events give {uses} uses, coupon has {coupon.redemption_count}")
    by_action = Counter(e.action for e in events)
    if by_action[A.REDEEM] != len(redemptions) or by_action[A.ROLLBACK] != len(redemptions) - len(live):
        problems.append(f"{dict(by_action)} for {len(redemptions)} redemptions, {len(live)} live")
    return [f"{coupon.code}: {problem}" for problem in problems]


def check_database(soak: Soak, books: list[Book]) -> list[str]:
    seen = soak.seen
    coupons = list(Coupon.objects.filter(book__in=books).select_related("book").order_by("id"))
    events: dict[int, list[CouponEvent]] = defaultdict(list)
    for event in CouponEvent.objects.filter(coupon__book__in=books).order_by("id"):
        events[event.coupon_id].append(event)
    redemptions: dict[int, list[Redemption]] = defaultdict(list)
    for redemption in Redemption.objects.filter(coupon__book__in=books):
        redemptions[redemption.coupon_id].append(redemption)

    problems = []
    for coupon in coupons:
        problems += check_coupon(coupon, events[coupon.pk], redemptions[coupon.pk])

    # Exactly the assignments, redemptions and rollbacks the clients were told of.
    stored = {c.code: (c.user_id, c.book_id) for c in coupons if c.user_id is not None}
    if stored != seen.assigned:
        diff = set(stored.items()) ^ set(seen.assigned.items())
        problems.append(f"holders differ from the 201 answers: {sorted(diff)[:10]}")
    per_user = Counter((c.book_id, c.user_id) for c in coupons if c.user_id is not None)
    for book in books:
        worst = max((n for (b, _), n in per_user.items() if b == book.pk), default=0)
        if book.max_codes_per_user is not None and worst > book.max_codes_per_user:
            problems.append(f"a user holds {worst} coupons of book {book.pk}, limit {book.max_codes_per_user}")
    all_redemptions = [r for rs in redemptions.values() for r in rs]
    if {str(r.id) for r in all_redemptions} != seen.redemptions:
        problems.append("redemption rows differ from the 200 redeem answers")
    if {str(r.id) for r in all_redemptions if r.rolled_back_at} != seen.rolled_back:
        problems.append("rolled-back redemptions differ from the 200 rollback answers")

    # Every request that acted wrote its one event; no refused or replayed request wrote any.
    api_events = [e for es in events.values() for e in es if e.actor_kind == ActorKind.API_KEY]
    by_request: dict[str, list[str]] = defaultdict(list)
    for event in api_events:
        by_request[event.request_id].append(event.action)
    for request_id, action in seen.effects.items():
        written = by_request.pop(request_id, [])
        if sorted(written) not in ([action], sorted([action, A.LOCK_EXPIRED])):
            problems.append(f"request {request_id} ({action}) wrote {written}")
    if by_request:
        problems.append(f"events of requests that acted on nothing: {dict(list(by_request.items())[:5])}")
    return problems


# --------------------------------------------------------------------------- the test


def test_sustained_mixed_traffic_through_three_server_processes_keeps_every_invariant(servers):
    partner = partner_create(name="Soak partner")
    _, key = api_key_issue(partner=partner, name="soak")
    single = book_create(partner=partner, name="Single use", max_codes_per_user=2, max_redemptions_per_coupon=1)
    gift = book_create(partner=partner, name="Gift cards", max_codes_per_user=3, max_redemptions_per_coupon=5)
    codes_generate(actor=OPERATOR, book=single, count=300)
    codes_generate(actor=OPERATOR, book=gift, count=150)
    codes = list(Coupon.objects.filter(partner=partner).values_list("code", flat=True))
    soak = Soak(port=servers.port, key=key, single=single, gift=gift, codes=codes)

    cron = Cron(soak)
    cron.start()
    try:
        elapsed = soak.run()
    finally:
        cron.stopping.set()
        cron.join()
    # The servers are idle, their connections open: a leaked lock would show now.
    leaked = held_advisory_locks()
    time.sleep(LOCK_TIMEOUT + 0.5)  # every lock of the run has run out
    by_command = release_expired_locks_command(servers)

    problems = check_database(soak, [single, gift])
    final = Counter(Coupon.objects.filter(partner=partner).values_list("state", flat=True))
    lock_expired = Counter(
        CouponEvent.objects.filter(coupon__partner=partner, action=A.LOCK_EXPIRED).values_list("actor_id", flat=True)
    )
    print_summary(soak, elapsed, final, cron=cron.released, command=by_command, by_requests=lock_expired["lock_expiry"])
    server_log = servers.log.read_text(errors="replace")

    assert soak.failures == [], "\n".join(soak.failures[:30])
    assert cron.errors == []
    assert "Traceback" not in server_log, servers.log_tail(80)
    assert leaked == 0
    assert problems == [], "\n".join(problems[:30])
    assert final[S.LOCKED] == 0
    assert final[S.VOID] == 0
    assert sum(final.values()) == 450
    assert final[S.ASSIGNED] + final[S.REDEEMED] == len(soak.seen.assigned)
    # Each release job writes its own expiries; a request that finds a lock
    # expired writes it as the system's lock_expiry.
    assert lock_expired["soak-cron"] == cron.released
    assert lock_expired["release_expired_locks"] == by_command
    assert set(lock_expired) <= {"soak-cron", "release_expired_locks", "lock_expiry"}
    assert soak.requests > CLIENTS * 10, "the soak hardly ran"


def print_summary(soak: Soak, elapsed: float, final: Counter, *, cron: int, command: int, by_requests: int) -> None:
    seen = soak.seen
    actions = Counter(seen.effects.values())
    print(
        f"\nsoak (seed {SEED}): {soak.requests:,} requests in {elapsed:.1f} s = {soak.requests / elapsed:,.0f}/s,"
        f" {CLIENTS} clients, gunicorn {SERVER_WORKERS} workers x {SERVER_THREADS} threads,"
        f" {connection.vendor} {connection.settings_dict['NAME']} on {connection.settings_dict['HOST']}"
    )
    print("  answers: " + ", ".join(f"{label}: {n:,}" for label, n in sorted(soak.answers.items())))
    print("  effects: " + ", ".join(f"{action}: {n:,}" for action, n in sorted(actions.items())))
    print(f"  redemptions {len(seen.redemptions):,}, rolled back {len(seen.rolled_back):,}")
    print(
        f"  expired locks written back: by cron {cron:,}, by the command {command:,}, by later requests {by_requests:,}"
    )
    print("  client checks: " + ", ".join(f"{label}: {n:,}" for label, n in sorted(soak.checks.items())))
    print("  coupons now: " + ", ".join(f"{state}: {n:,}" for state, n in sorted(final.items())))
