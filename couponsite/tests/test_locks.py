import subprocess
import sys
import threading
import time

import pytest
from django.db import connection, transaction

from couponsite.locks import LockKind, LockOutsideTransaction, advisory_xact_lock, stable_key, stable_key_sql


@pytest.mark.django_db(transaction=True)
def test_lock_outside_a_transaction_is_refused():
    with pytest.raises(LockOutsideTransaction):
        advisory_xact_lock(LockKind.COUPON, 1)


def test_keys_are_the_same_in_every_process():
    code = "from couponsite.locks import LockKind, stable_key; print(stable_key(LockKind.BOOK_USER, 7, 'alice'))"
    other_process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert int(other_process.stdout) == stable_key(LockKind.BOOK_USER, 7, "alice")


def test_keys_differ_by_kind_and_parts():
    keys = {
        stable_key(LockKind.BOOK_USER, 7, "alice"),
        stable_key(LockKind.BOOK_USER, 7, "bob"),
        stable_key(LockKind.COUPON, 7, "alice"),
        stable_key(LockKind.BOOK_USER, 8, "alice"),
    }
    assert len(keys) == 4
    assert all(-(2**63) <= key < 2**63 for key in keys)


@pytest.mark.races
@pytest.mark.django_db(transaction=True)
def test_a_second_transaction_waits_until_the_first_commits():
    order = []
    first_has_lock = threading.Event()

    def first():
        with transaction.atomic():
            advisory_xact_lock(LockKind.COUPON, 42)
            first_has_lock.set()
            time.sleep(0.3)
            order.append("first done")
        connection.close()

    def second():
        first_has_lock.wait(5)
        with transaction.atomic():
            advisory_xact_lock(LockKind.COUPON, 42)
            order.append("second has lock")
        connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert order == ["first done", "second has lock"]


@pytest.mark.django_db(transaction=True)
def test_the_lock_is_released_at_commit():
    with transaction.atomic():
        advisory_xact_lock(LockKind.COUPON, 43)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db
@pytest.mark.parametrize("parts", [(1,), (7, "alice"), (2**62, "ünïcode user"), (0, "")])
def test_the_sql_key_is_the_python_key(parts):
    placeholders = ["%s"] * len(parts)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {stable_key_sql(LockKind.COUPON, *placeholders)}", [str(part) for part in parts])
        assert cursor.fetchone()[0] == stable_key(LockKind.COUPON, *parts)
