"""Reads of exports."""

from __future__ import annotations

from uuid import UUID

from books.models import Partner
from couponsite.actors import ActorKind
from couponsite.errors import ExportNotReady, NotFound
from exports.models import Export


def export_get(*, partner: Partner, export_id: UUID) -> Export:
    """The partner's export; another partner's is not found, like one that does not exist."""
    export = Export.objects.filter(pk=export_id, partner=partner, actor_kind=ActorKind.API_KEY).first()
    if export is None:
        raise NotFound("No such export")
    return export


def export_get_downloadable(*, partner: Partner, export_id: UUID) -> Export:
    export = export_get(partner=partner, export_id=export_id)
    if not export.downloadable:
        detail = "The export's file has expired" if export.file_deleted_at else f"The export is {export.status}"
        raise ExportNotReady(detail)
    return export
