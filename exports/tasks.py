"""The exports' jobs: writing a file, and deleting expired ones."""

from __future__ import annotations

from procrastinate.contrib.django import app

from exports.services import RUN_EXPORT_TASK, export_run, exports_delete_expired


@app.task(name=RUN_EXPORT_TASK)
def run_export(export_id: str) -> int | None:
    return export_run(export_id=export_id).rows


@app.periodic(cron="*/10 * * * *")
@app.task(queueing_lock="delete_expired_exports")
def delete_expired_exports(timestamp: int) -> int:
    return exports_delete_expired()
