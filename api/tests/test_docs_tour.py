"""The API tour of docs/api.md, and the README's teaser, run as written: each
block is pasted into bash against a live server, with a fresh partner's key.

A tour that stops working (a date in the past, a changed field, a key reused)
fails here before a reader finds out."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from procrastinate.contrib.django import app

from books.services import api_key_issue, partner_create

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(settings.BASE_DIR)
TOUR_HEADING = "## Tour"
TEASER_HEADING = "## Try the API"
EXPORTS_HEADING = "## Exports"


def bash_block(document: Path, heading: str) -> str:
    """The first ```bash block after the line ``heading`` of ``document``."""
    text = document.read_text()
    start = re.search(rf"^{re.escape(heading)}$", text, re.MULTILINE)
    assert start, f"{document.name} has no heading {heading!r}"
    block = re.search(r"^```bash\n(.*?)^```$", text[start.end() :], re.MULTILINE | re.DOTALL)
    assert block, f"no ```bash block under {heading!r} in {document.name}"
    return block.group(1)


def run_in_bash(script: str, *, base: str, key: str, cwd: Path) -> subprocess.CompletedProcess:
    """The script as a reader's shell would run it, stopping at the first failure."""
    environment = {**os.environ, "BASE": base, "KEY": key}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def new_partner_key(name: str) -> str:
    _, key = api_key_issue(partner=partner_create(name=name), name="docs")
    return key


def test_the_api_tour_runs_as_written(live_server, tmp_path):
    script = bash_block(ROOT / "docs" / "api.md", TOUR_HEADING)

    result = run_in_bash(script, base=live_server.url, key=new_partner_key("Docs tour"), cwd=tmp_path)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r'"created":\s*1000\b', output), output
    assert re.search(r'"state":\s*"locked"', output), output
    assert re.search(r'"state":\s*"redeemed"', output), output
    assert re.search(r"^Idempotent-Replayed: true", output, re.MULTILINE | re.IGNORECASE), output
    assert re.search(r'"action":\s*"rollback"', output), output
    assert re.search(r'"code":\s*"assignment_limit_reached"', output), output


def test_the_api_tour_runs_twice(live_server, tmp_path):
    """Fresh Idempotency-Keys and a new book each time: a second run is a new run, not replays."""
    script = bash_block(ROOT / "docs" / "api.md", TOUR_HEADING)
    key = new_partner_key("Docs tour twice")

    first = run_in_bash(script, base=live_server.url, key=key, cwd=tmp_path)
    second = run_in_bash(script, base=live_server.url, key=key, cwd=tmp_path)

    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    books = [re.search(r'^\{"id":(\d+),', run.stdout, re.MULTILINE) for run in (first, second)]
    assert all(books), first.stdout + second.stdout
    assert books[0].group(1) != books[1].group(1)


def test_the_readme_teaser_runs_as_written(live_server, tmp_path):
    script = bash_block(ROOT / "README.md", TEASER_HEADING)

    result = run_in_bash(script, base=live_server.url, key=new_partner_key("Docs teaser"), cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r'"results":\s*\[', result.stdout), result.stdout


def _queue_worker() -> None:
    connections.close_all()  # the parent's connections are not ours to use
    with app.replace_connector(app.connector.get_worker_connector()) as worker:
        worker.run_worker(wait=True, listen_notify=False, fetch_job_polling_interval=0.2)


def stop(worker: multiprocessing.Process) -> None:
    """SIGTERM, as a deployment stops a worker; SIGKILL if it has not stopped in
    10 s (a child forked beside the live server's thread may inherit a lock
    that thread held), so that no process of the test outlives it."""
    os.kill(worker.pid, signal.SIGTERM)
    worker.join(timeout=10)
    if worker.is_alive():
        worker.kill()
        worker.join()


@pytest.mark.django_db(transaction=True, databases=["default", "queue"])
def test_the_export_example_runs_after_the_tour_as_written(live_server, tmp_path, settings):
    settings.EXPORT_DIR = tmp_path / "exports"
    script = bash_block(ROOT / "docs" / "api.md", TOUR_HEADING) + bash_block(ROOT / "docs" / "api.md", EXPORTS_HEADING)
    connections.close_all()
    worker = multiprocessing.get_context("fork").Process(target=_queue_worker)
    worker.start()
    try:
        result = run_in_bash(script, base=live_server.url, key=new_partner_key("Docs exports"), cwd=tmp_path)
    finally:
        stop(worker)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r'"status":"done","rows":1000\b', output), output
    assert re.search(r"^code,state,user_id,assigned_at,redemption_count$", output, re.MULTILINE), output
    assert len((tmp_path / "tour.csv").read_text().splitlines()) == 1001
