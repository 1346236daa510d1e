"""The back office in a real browser: Debian's Chromium driven by Playwright
against pytest-django's live server. Screenshots of the book page land in
test-artifacts/ (git-ignored)."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone
from playwright import sync_api as playwright_sync

from books.models import Book
from books.tests.admin_helpers import PASSWORD, staff_user
from books.tests.factories import BookFactory, PartnerFactory
from coupons.models import Coupon
from coupons.services import coupon_assign_code, coupon_lock
from couponsite.actors import Actor
from couponsite.roles import COUPON_MANAGERS
from redemptions.models import Redemption
from redemptions.services import coupon_redeem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
TIMEOUT_MS = 15_000
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture
def page(monkeypatch):
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: `python3 dev.py test` installs it with apt when run as root"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    # Playwright's sync API runs an event loop in this thread; the test's own
    # database calls are still plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        # expect() has a 5 s timeout of its own: ReDoc took longer while the
        # suite's other worker ran beside it.
        playwright_sync.expect.set_options(timeout=TIMEOUT_MS)
        page = context.new_page()
        # The pages run under a Content-Security-Policy: anything it blocks
        # (an inline script, an asset from elsewhere) fails the test, except
        # the logo ReDoc's sidebar fetches from its CDN, blocked on purpose.
        blocked: list[str] = []
        page.on("console", lambda message: blocked.append(message.text) if csp_blocked(message.text) else None)
        yield page
        browser.close()
        # Database calls made while Playwright runs use a connection of their
        # own (another context); close it, or the test database stays in use.
        connections.close_all()
        assert blocked == []


def csp_blocked(console_text: str) -> bool:
    return "Content Security Policy" in console_text and REDOC_LOGO not in console_text


def log_in(page, live_server, user) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    playwright_sync.expect(page.get_by_role("heading", name="Site administration")).to_be_visible()


def state_count(page, state: str) -> str:
    return page.locator(f'table.state-legend tr[data-state="{state}"] td.number').first.inner_text()


def messages(page) -> list[str]:
    return page.locator("ul.messagelist li").all_inner_texts()


def screenshot(page, name: str) -> None:
    page.locator("#content").screenshot(path=ARTIFACTS / f"{name}.png")


def test_manager_creates_a_book_uploads_generates_and_voids(page, live_server):
    partner = PartnerFactory(name="Acme Coffee")
    log_in(page, live_server, staff_user(role=COUPON_MANAGERS))
    expect = playwright_sync.expect

    # Create a book.
    page.goto(f"{live_server.url}/admin/books/book/add/")
    page.get_by_label("Partner").select_option(label=partner.name)
    page.get_by_label("Name").fill("Spring sale")
    page.get_by_label("Max codes per user").fill("2")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator("ul.messagelist")).to_contain_text("was added successfully")
    book = Book.objects.get(name="Spring sale")
    expect(page.locator("#book-charts")).to_contain_text("No coupons yet")

    # Upload a CSV.
    page.get_by_role("link", name="Upload CSV").click()
    page.get_by_label("CSV file").set_input_files(
        {"name": "codes.csv", "mimeType": "text/csv", "buffer": b"code\nSPRING-A\nSPRING-B\nSPRING-C\n"}
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("ul.messagelist")).to_contain_text("Uploaded 3 codes to Spring sale.")
    assert state_count(page, "available") == "3"

    # Generate codes.
    page.get_by_role("link", name="Generate codes").click()
    page.get_by_label("Count").fill("20")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("ul.messagelist")).to_contain_text("Generated 20 codes for Spring sale.")
    assert state_count(page, "available") == "23"
    assert state_count(page, "total") == "23"
    expect(page.locator("svg.state-bar rect")).to_have_count(1)
    expect(page.locator("svg.state-bar title").nth(1)).to_have_text("Available: 23 (100.0 %)")

    _partner_traffic(book)

    # Void a coupon from the coupons list.
    page.get_by_role("link", name="Coupons of this book").click()
    page.locator("#searchbar").fill("spring-c")
    page.locator("#searchbar").press("Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.locator("#result_list tbody input.action-select").check()
    page.get_by_label("Action:").select_option("void")
    page.get_by_role("button", name="Go").click()
    expect(page.locator("ul.messagelist")).to_contain_text("Voided 1 coupon(s).")
    assert Coupon.objects.get(code="SPRING-C").state == "void"

    # The book page shows the new counts and picture.
    page.goto(f"{live_server.url}/admin/books/book/{book.pk}/change/")
    counts = [state_count(page, state) for state in ("available", "assigned", "locked", "redeemed", "void", "total")]
    assert counts == ["16", "1", "1", "4", "1", "23"]
    expect(page.locator("svg.state-bar > rect")).to_have_count(5)
    expect(page.locator("#state-bar-desc")).to_have_text(
        "23 coupons: available 16, assigned 1, locked 1, redeemed 4, void 1."
    )
    expect(page.locator("svg.redemptions-chart > rect")).to_have_count(3)  # three days with redemptions
    expect(page.locator("#redemptions-chart-desc")).to_contain_text("4 redemptions from")
    screenshot(page, "book-page")


def _partner_traffic(book: Book) -> None:
    """What partners would do meanwhile, through the services; a few of the
    redemptions moved to earlier days so that the daily chart has a shape."""
    actor = Actor.system("browser-test")
    partner = book.partner
    coupon_assign_code(partner=partner, code="SPRING-A", user_id="u1", actor=actor)
    coupon_lock(partner=partner, code="SPRING-A", user_id="u1", actor=actor)
    coupon_assign_code(partner=partner, code="SPRING-B", user_id="u2", actor=actor)
    generated = list(Coupon.objects.filter(book=book, state="available").exclude(code__startswith="SPRING"))
    for days_ago, coupon in zip([0, 3, 9, 9], generated, strict=False):
        user_id = f"u-{coupon.pk}"
        coupon_assign_code(partner=partner, code=coupon.code, user_id=user_id, actor=actor)
        _, redemption = coupon_redeem(partner=partner, code=coupon.code, user_id=user_id, actor=actor)
        Redemption.objects.filter(pk=redemption.pk).update(created_at=timezone.now() - timedelta(days=days_ago))


def test_a_bad_csv_lists_its_rejected_rows_and_stores_nothing(page, live_server):
    book = BookFactory(name="Gift cards")
    log_in(page, live_server, staff_user(role=COUPON_MANAGERS))

    page.goto(f"{live_server.url}/admin/books/book/{book.pk}/upload/")
    page.get_by_label("CSV file").set_input_files(
        {"name": "bad.csv", "mimeType": "text/csv", "buffer": b"code\nGOOD-1\nno spaces allowed\nGOOD-1\n"}
    )
    page.get_by_role("button", name="Upload").click()

    texts = messages(page)
    assert texts[0].startswith("Nothing stored: the file was rejected.")
    assert any(re.match(r"Line 3: 'no spaces allowed': ", text) for text in texts)
    assert "Line 4: 'GOOD-1': duplicate of line 2" in texts
    assert not Coupon.objects.filter(book=book).exists()
    page.screenshot(path=ARTIFACTS / "upload-rejected.png", full_page=True)
    page.goto(f"{live_server.url}/admin/books/book/{book.pk}/change/")
    playwright_sync.expect(page.locator("#book-charts")).to_contain_text("No coupons yet")
    screenshot(page, "book-page-after-rejected-upload")


def test_after_the_failure_limit_the_login_page_says_the_account_is_locked(page, live_server):
    user = staff_user(role=COUPON_MANAGERS)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill("not " + PASSWORD)
        page.get_by_role("button", name="Log in").click()

    playwright_sync.expect(page.get_by_role("heading", name="Account locked: too many login attempts")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "login-locked-out.png", full_page=True)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    playwright_sync.expect(page.get_by_role("heading", name="Account locked: too many login attempts")).to_be_visible()


@pytest.mark.parametrize(("path", "rendered"), [("/api/docs/", ".opblock"), ("/api/redoc/", "[role=menuitem]")])
def test_the_api_docs_render_under_their_content_security_policy(page, live_server, path, rendered):
    page.goto(f"{live_server.url}{path}")

    playwright_sync.expect(page.locator(rendered).first).to_be_visible()
    assert (
        "script-src 'self'" in page.context.request.get(f"{live_server.url}{path}").headers["content-security-policy"]
    )
