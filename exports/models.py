"""An export: one CSV file written in the background, and the record of who
asked for what, when, and how it went."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import FSMField, transition


class ExportStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ExportKind(models.TextChoices):
    BOOK_CODES = "book_codes", "book codes"
    REDEMPTIONS = "redemptions", "redemptions"
    EVENTS = "events", "coupon events"


class Export(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=ExportKind.choices)
    status = FSMField(default=ExportStatus.QUEUED, choices=ExportStatus.choices, protected=True, max_length=8)
    # Whose data: the partner of a book export (the API's, and the admin's of one book).
    partner = models.ForeignKey("books.Partner", null=True, blank=True, on_delete=models.PROTECT)
    book = models.ForeignKey("books.Book", null=True, blank=True, on_delete=models.PROTECT)
    # What was asked for: a coupon state (book codes), or the admin's selection (signed).
    coupon_state = models.CharField(max_length=16, blank=True)
    selection = models.TextField(blank=True)
    description = models.CharField(max_length=200)
    # Files for people (the admin's) have formula-like cells defused; the API's are raw.
    spreadsheet_safe = models.BooleanField()
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    rows = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    file_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("start_export", "Can start exports (CSV files of codes, redemptions and events)")]
        default_permissions = ("view",)
        constraints = [
            models.CheckConstraint(
                name="export_done_has_rows",
                condition=~models.Q(status=ExportStatus.DONE) | models.Q(rows__isnull=False, finished_at__isnull=False),
            ),
            models.CheckConstraint(
                name="export_failed_says_why",
                condition=~models.Q(status=ExportStatus.FAILED)
                | (~models.Q(error="") & models.Q(finished_at__isnull=False)),
            ),
        ]
        indexes = [models.Index(fields=["status", "finished_at"], name="export_status_finished")]

    def __str__(self) -> str:
        return f"{self.description} ({self.status})"

    @property
    def file_name(self) -> str:
        return f"{self.id}.csv"

    @property
    def download_name(self) -> str:
        return f"{self.kind}-{self.created_at:%Y%m%d-%H%M%S}.csv"

    @property
    def expires_at(self):
        if self.finished_at is None or self.status != ExportStatus.DONE:
            return None
        return self.finished_at + timedelta(hours=settings.EXPORT_TTL_HOURS)

    @property
    def downloadable(self) -> bool:
        return self.status == ExportStatus.DONE and self.file_deleted_at is None

    # A job retried after its worker died finds the export running: it starts over.
    @transition(field=status, source=[ExportStatus.QUEUED, ExportStatus.RUNNING], target=ExportStatus.RUNNING)
    def start(self) -> None:
        self.started_at = timezone.now()
        self.attempts += 1
        self.rows = None

    @transition(field=status, source=ExportStatus.RUNNING, target=ExportStatus.DONE)
    def finish(self, *, rows: int) -> None:
        self.rows = rows
        self.finished_at = timezone.now()

    @transition(field=status, source=[ExportStatus.QUEUED, ExportStatus.RUNNING], target=ExportStatus.FAILED)
    def fail(self, *, error: str) -> None:
        self.error = error or "failed"
        self.rows = None
        self.finished_at = timezone.now()
