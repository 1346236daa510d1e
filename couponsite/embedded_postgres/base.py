"""This project's PostgreSQL backend (``couponsite.postgres``) on the embedded server: the server is started
(or found running) on the first connection, not when the settings are read,
so that importing the settings starts nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from couponsite import embedded_db
from couponsite.postgres import base


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        if not self.settings_dict["HOST"]:
            # Safe to do twice at once: the package serialises start-up across
            # processes, and a running server is found, not started again.
            host = embedded_db.socket_dir(Path(self.settings_dict["OPTIONS"]["pgdata"]))
            embedded_db.ensure_database(host=host, name=embedded_db.DEFAULT_DATABASE_NAME)
            self.settings_dict["HOST"] = host
        params = super().get_connection_params()
        del params["pgdata"]
        return params
