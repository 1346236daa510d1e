import csv
import io
import sys
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.core.management import CommandError, ManagementUtility, call_command
from django.db import connection
from django.utils import timezone

from books.tests.factories import BookFactory
from coupons.management.commands import generate_codes
from coupons.models import Coupon, CouponEvent
from coupons.services import coupon_assign_code, coupon_lock
from coupons.tests.factories import CouponFactory
from couponsite.actors import Actor
from couponsite.locks import LockKind, stable_key

ACTOR = Actor.system("test")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*args, **kwargs) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), kwargs.pop("stderr", io.StringIO())
    call_command(*args, stdout=stdout, stderr=stderr, **kwargs)
    return stdout.getvalue(), stderr.getvalue()


def book_codes(book) -> list[str]:
    return list(Coupon.objects.filter(book=book).values_list("code", flat=True))


# generate_codes


@pytest.mark.django_db
def test_generate_codes_creates_the_count_asked_for():
    book = BookFactory()

    out, err = run("generate_codes", "--book", book.pk, "--count", 250)

    assert len(book_codes(book)) == 250
    assert out.startswith(f"Created 250 codes in book {book.pk}")
    assert err == ""


@pytest.mark.django_db
def test_generate_codes_follows_the_given_pattern():
    book = BookFactory()

    run("generate_codes", "--book", book.pk, "--count", 20, "--pattern", "VIP-######")

    assert all(code.startswith("VIP-") and len(code) == 10 for code in book_codes(book))


@pytest.mark.django_db
def test_generate_codes_draws_from_the_given_charset():
    book = BookFactory()

    run("generate_codes", "--book", book.pk, "--count", 20, "--pattern", "########", "--charset", "numeric")

    assert all(code.isdigit() for code in book_codes(book))


@pytest.mark.django_db
def test_generate_codes_draws_a_progress_bar_on_a_terminal_only():
    book = BookFactory()

    _, on_terminal = run("generate_codes", "--book", book.pk, "--count", 10, stderr=Terminal())
    _, switched_off = run("generate_codes", "--book", book.pk, "--count", 10, "--no-progress", stderr=Terminal())
    _, piped = run("generate_codes", "--book", book.pk, "--count", 10)

    assert "10/10" in on_terminal
    assert switched_off == ""
    assert piped == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--book", 999999, "--count", 5], "No book with id 999999."),
        (["--count", 10, "--pattern", "##"], r"possible codes \(from 31 characters\), under"),
        (["--count", 10, "--pattern", "NO RANDOM"], "Invalid pattern"),
        (["--count", 0], "count must be a positive integer."),
    ],
)
@pytest.mark.django_db
def test_generate_codes_refuses_bad_input_with_one_line_and_stores_nothing(args, message):
    book = BookFactory()
    if "--book" not in args:
        args = ["--book", book.pk, *args]

    with pytest.raises(CommandError, match=message) as refused:
        run("generate_codes", *args)

    assert "\n" not in str(refused.value)
    assert not Coupon.objects.exists()


@pytest.mark.django_db
def test_a_bad_command_line_exits_non_zero_with_one_line_on_stderr(capsys):
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "generate_codes", "--book", "999999", "--count", "5"]).execute()

    assert exited.value.code == 1
    assert capsys.readouterr().err == "CommandError: No book with id 999999.\n"


@pytest.mark.django_db(transaction=True)
def test_generate_codes_interrupted_half_way_stores_nothing(monkeypatch):
    monkeypatch.setattr("coupons.generation.BATCH_SIZE", 100)
    book = BookFactory()
    batches = []

    class CtrlCOnSecondBatch:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def __enter__(self):
            def update(added: int) -> None:
                batches.append(added)
                if len(batches) == 2:
                    raise KeyboardInterrupt

            return update

        def __exit__(self, *exc_info) -> None:
            return None

    monkeypatch.setattr(generate_codes, "progress_bar", CtrlCOnSecondBatch)

    with pytest.raises(CommandError, match=r"Interrupted: no code was stored\.") as interrupted:
        run("generate_codes", "--book", book.pk, "--count", 500)

    assert interrupted.value.returncode == 130
    assert batches == [100, 100]
    assert not Coupon.objects.filter(book=book).exists()


# import_codes


@pytest.mark.django_db
def test_import_codes_reads_a_csv_file(tmp_path):
    book = BookFactory()
    path = tmp_path / "codes.csv"
    path.write_text("code\nFILE-1\nFILE-2\n\nFILE-3\n")

    out, _ = run("import_codes", "--book", book.pk, str(path))

    assert sorted(book_codes(book)) == ["FILE-1", "FILE-2", "FILE-3"]
    assert out.startswith(f"Imported 3 codes into book {book.pk}")


@pytest.mark.django_db
def test_import_codes_reads_standard_input_for_a_dash(monkeypatch):
    book = BookFactory()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"IN-1\nIN-2\n")))

    run("import_codes", "--book", book.pk, "-")

    assert sorted(book_codes(book)) == ["IN-1", "IN-2"]


@pytest.mark.django_db
def test_import_codes_that_fails_on_the_last_row_stores_nothing_and_lists_the_row(tmp_path):
    book = BookFactory()
    path = tmp_path / "codes.csv"
    path.write_text("".join(f"GOOD-{n}\n" for n in range(1, 1000)) + "GOOD-1\n")

    with pytest.raises(CommandError, match="1 rows are not valid codes or are duplicates") as refused:
        run("import_codes", "--book", book.pk, str(path), stderr=(stderr := io.StringIO()))

    assert stderr.getvalue() == "line 1000: 'GOOD-1': duplicate of line 1\n"
    assert "\n" not in str(refused.value)
    assert not Coupon.objects.filter(book=book).exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "Line 1 is not UTF-8 text."),
        (b"CODE-1\nAB\x00\x00\x00\x01\n", "Line 2 holds NUL bytes"),
        (b"CODE-1\nCAF\xc9\n", "Line 2 is not UTF-8 text."),
        (b"", "The file holds no codes."),
    ],
)
@pytest.mark.django_db
def test_import_codes_refuses_an_unreadable_file(tmp_path, content, message):
    book = BookFactory()
    path = tmp_path / "codes.csv"
    path.write_bytes(content)

    with pytest.raises(CommandError, match=message):
        run("import_codes", "--book", book.pk, str(path))

    assert not Coupon.objects.filter(book=book).exists()


@pytest.mark.django_db
def test_import_codes_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match=r"Cannot read .*missing\.csv: No such file or directory\."):
        run("import_codes", "--book", BookFactory().pk, str(tmp_path / "missing.csv"))


@pytest.mark.django_db
def test_import_codes_shows_progress_on_a_terminal(tmp_path):
    book = BookFactory()
    path = tmp_path / "codes.csv"
    path.write_text("A-1\nA-2\n")

    _, err = run("import_codes", "--book", book.pk, str(path), stderr=Terminal())

    assert "2codes" in err.replace(" ", "")


# export_codes


def export(*args) -> list[list[str]]:
    out, _ = run("export_codes", *args)
    return list(csv.reader(io.StringIO(out)))


@pytest.mark.django_db
def test_export_codes_defuses_cells_a_spreadsheet_would_run_as_formulas():
    book = BookFactory()
    # Codes may start with '-' only; user ids are the partner's opaque strings.
    holders = {"-SUM": "=HYPERLINK(1)", "A": "+1", "B": "@A1", "C": "\tx", "D": "\rx", "SAFE": "alice-1"}
    for code, user_id in holders.items():
        CouponFactory(book=book, code=code)
        coupon_assign_code(partner=book.partner, code=code, user_id=user_id, actor=ACTOR)

    rows = export("--book", book.pk)

    assert {row[0]: row[2] for row in rows[1:]} == {
        "'-SUM": "'=HYPERLINK(1)",
        "A": "'+1",
        "B": "'@A1",
        "C": "'\tx",
        "D": "'\rx",
        "SAFE": "alice-1",
    }


@pytest.mark.django_db
def test_export_codes_writes_to_a_file(tmp_path):
    book = BookFactory()
    CouponFactory(book=book, code="TO-FILE")
    path = tmp_path / "export.csv"

    out, _ = run("export_codes", "--book", book.pk, "--output", str(path))

    assert path.read_text().splitlines() == ["code,state,user_id,assigned_at,redemption_count", "TO-FILE,available,,,0"]
    assert out.startswith(f"Exported 1 coupons of book {book.pk} to {path}")


@pytest.mark.django_db
def test_export_codes_refuses_an_unknown_book_and_an_unwritable_file(tmp_path):
    with pytest.raises(CommandError, match=r"No book with id 999999\."):
        run("export_codes", "--book", 999999)
    with pytest.raises(CommandError, match="Cannot write"):
        run("export_codes", "--book", BookFactory().pk, "--output", str(tmp_path / "no" / "such" / "dir.csv"))


# release_expired_locks


@pytest.mark.django_db
def test_release_expired_locks_writes_back_expired_locks_once():
    coupon = CouponFactory()
    coupon_assign_code(partner=coupon.partner, code=coupon.code, user_id="alice", actor=ACTOR)
    coupon_lock(partner=coupon.partner, code=coupon.code, user_id="alice", actor=ACTOR)
    Coupon.objects.filter(pk=coupon.pk).update(locked_until=timezone.now() - timedelta(seconds=1))

    first, _ = run("release_expired_locks")
    second, _ = run("release_expired_locks")

    assert first == "Released 1 expired locks.\n"
    assert second == "Released 0 expired locks.\n"
    assert Coupon.objects.get(pk=coupon.pk).state == "assigned"
    expired = CouponEvent.objects.get(coupon=coupon, action="lock_expired")
    assert (expired.actor_kind, expired.actor_id) == ("system", "release_expired_locks")


@pytest.mark.django_db
@pytest.mark.parametrize("batch_size", ["0", "-5"])
def test_release_expired_locks_refuses_a_batch_size_below_one(batch_size):
    with pytest.raises(CommandError, match="batch_size must be a positive integer"):
        run("release_expired_locks", "--batch-size", batch_size)


@pytest.mark.django_db
def test_release_expired_locks_is_silent_for_cron_at_verbosity_zero():
    out, err = run("release_expired_locks", verbosity=0)

    assert (out, err) == ("", "")


# the bulk commands' timeouts


@pytest.mark.django_db(transaction=True)
def test_generate_codes_waits_for_a_lock_no_longer_than_the_bulk_lock_timeout(settings):
    settings.BULK_LOCK_TIMEOUT_SECONDS = 0.3
    book = BookFactory()
    # Another generation of the partner's runs, and runs long.
    with psycopg.connect(**connection.get_connection_params(), autocommit=False) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", [stable_key(LockKind.PARTNER_GENERATION, book.partner_id)])
        released = threading.Timer(5, other.rollback)
        released.start()
        started = time.monotonic()
        try:
            with pytest.raises(CommandError, match=r"lock timeout\. No code was stored; run it again\."):
                run("generate_codes", "--book", book.pk, "--count", 10)
        finally:
            waited = time.monotonic() - started
            released.cancel()
            other.rollback()

    assert waited < 0.3 + 1.5, waited
    assert not Coupon.objects.filter(book=book).exists()
