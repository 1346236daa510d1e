"""The partner API through nginx, for deploy/container-test.sh: one checkout
from book to redemption, then races whose results are counted exactly.

    python3 deploy/container_smoke.py http://127.0.0.1:58080 API_KEY

Standard library only, so it runs with any Python 3.11 on the host. Prints
one line per check and exits non-zero at the first that fails.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

RACE_USERS = 200
EXHAUSTION_CODES = 50
EXHAUSTION_USERS = 120


class CheckFailed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)
    print(f"ok   {message}", flush=True)


class Api:
    def __init__(self, base: str, key: str) -> None:
        self.base = base.rstrip("/") + "/api/v1"
        self.key = key

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - our own http:// URL
            self.base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Api-Key {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our own http:// URL
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            payload = error.read()
            try:
                return error.code, json.loads(payload)
            except ValueError:
                return error.code, {"raw": payload[:200].decode(errors="replace")}

    def download(self, path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(  # noqa: S310 - our own http:// URL
            self.base + path, headers={"Authorization": f"Api-Key {self.key}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our own http:// URL
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def expect(self, status: int, method: str, path: str, body: dict | None = None) -> dict:
        got, payload = self.call(method, path, body)
        check(got == status, f"{method} {path} -> {got} (want {status}){'' if got == status else f': {payload}'}")
        return payload


def race(api: Api, book_id: int, users: list[str]) -> list[tuple[str, int, dict]]:
    """One assignment per user, all released together from a barrier."""
    barrier = threading.Barrier(len(users))

    def assign(user_id: str) -> tuple[str, int, dict]:
        barrier.wait()
        status, payload = api.call("POST", "/coupons/assign", {"book_id": book_id, "user_id": user_id})
        return user_id, status, payload

    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        return list(pool.map(assign, users))


def smoke(api: Api) -> int:
    book = api.expect(201, "POST", "/books", {"name": "Container smoke", "max_codes_per_user": 1})
    book_id = book["id"]
    created = api.expect(201, "POST", f"/books/{book_id}/codes/generate", {"count": 1000})
    check(created == {"created": 1000}, f"generated 1000 codes: {created}")
    coupon = api.expect(201, "POST", "/coupons/assign", {"book_id": book_id, "user_id": "smoke-user"})
    code = coupon["code"]
    check(coupon["state"] == "assigned" and coupon["user_id"] == "smoke-user", f"assigned {code}")
    locked = api.expect(200, "POST", f"/coupons/lock/{code}", {"user_id": "smoke-user"})
    check(locked["state"] == "locked" and bool(locked.get("lock_id")), "locked with a lock_id")
    redeemed = api.expect(
        200, "POST", f"/coupons/redeem/{code}", {"user_id": "smoke-user", "lock_id": locked["lock_id"]}
    )
    check(redeemed["state"] == "redeemed" and redeemed["redemption_count"] == 1, "redeemed once")
    return book_id


def race_distinct_users(api: Api, book_id: int) -> None:
    users = [f"race-user-{n:03d}" for n in range(RACE_USERS)]
    started = time.monotonic()
    results = race(api, book_id, users)
    elapsed = time.monotonic() - started
    statuses = Counter(status for _, status, _ in results)
    print(f"     {RACE_USERS} concurrent assigns in {elapsed:.2f}s: {dict(statuses)}", flush=True)
    check(statuses == Counter({201: RACE_USERS}), f"all {RACE_USERS} racing assigns succeeded")
    codes = [payload["code"] for _, _, payload in results]
    check(len(set(codes)) == RACE_USERS, "every success holds a distinct code")
    check(
        all(payload["user_id"] == user for user, _, payload in results),
        "each coupon went to the user who asked",
    )
    counts = api.expect(200, "GET", f"/books/{book_id}")["counts"]
    want = {"available": 1000 - RACE_USERS - 1, "assigned": RACE_USERS, "locked": 0, "redeemed": 1, "void": 0}
    check(
        all(counts[state] == number for state, number in want.items()) and counts["total"] == 1000,
        f"book counts after the race: {counts}",
    )


def race_exhaustion(api: Api) -> None:
    book_id = api.expect(201, "POST", "/books", {"name": "Container exhaustion"})["id"]
    api.expect(201, "POST", f"/books/{book_id}/codes/generate", {"count": EXHAUSTION_CODES})
    users = [f"drain-user-{n:03d}" for n in range(EXHAUSTION_USERS)]
    results = race(api, book_id, users)
    statuses = Counter(status for _, status, _ in results)
    problems = Counter(payload.get("code") for _, status, payload in results if status != 201)
    print(f"     {EXHAUSTION_USERS} assigns on {EXHAUSTION_CODES} codes: {dict(statuses)} {dict(problems)}", flush=True)
    check(statuses[201] == EXHAUSTION_CODES, f"exactly {EXHAUSTION_CODES} assigns won")
    check(
        problems == Counter({"book_exhausted": EXHAUSTION_USERS - EXHAUSTION_CODES}),
        "every other one is book_exhausted",
    )
    codes = {payload["code"] for _, status, payload in results if status == 201}
    check(len(codes) == EXHAUSTION_CODES, "no code handed out twice")
    counts = api.expect(200, "GET", f"/books/{book_id}")["counts"]
    check(counts["available"] == 0 and counts["assigned"] == EXHAUSTION_CODES, f"book counts: {counts}")


def export_through_the_worker(api: Api, book_id: int) -> None:
    """An export is a job: the worker container writes the file into the shared
    volume, and either app container serves it."""
    export = api.expect(202, "POST", f"/books/{book_id}/exports", {})
    deadline = time.monotonic() + 90
    while (status := api.expect(200, "GET", f"/exports/{export['id']}"))["status"] in ("queued", "running"):
        check(time.monotonic() < deadline, "the worker finished the export within 90 s")
        time.sleep(1)
    check(status["status"] == "done" and status["rows"] == 1000, f"export done by the worker: {status}")
    # Several downloads: nginx spreads them over both app containers.
    for _ in range(4):
        got, body = api.download(f"/exports/{export['id']}/download")
        lines = body.decode().splitlines()
        check(got == 200 and len(lines) == 1001, f"download -> {got}, {len(lines)} lines (want 1001)")


def main() -> int:
    base, key = sys.argv[1], sys.argv[2]
    api = Api(base, key)
    try:
        book_id = smoke(api)
        race_distinct_users(api, book_id)
        race_exhaustion(api)
        export_through_the_worker(api, book_id)
    except CheckFailed as failure:
        print(f"FAIL {failure}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
