"""What a test needs to point a server process of its own at the test
database: its ``DATABASE_URL``, and a free local port."""

from __future__ import annotations

import socket
from urllib.parse import quote


def database_url(db: dict) -> str:
    """``DATABASE_URL`` for a Django database setting: a TCP host, or a socket
    folder (the embedded server) as django-environ reads it."""
    user = quote(db["USER"] or "", safe="")
    auth = f"{user}:{quote(db['PASSWORD'], safe='')}@" if db["PASSWORD"] else f"{user}@"
    host = db["HOST"] or ""
    if host.startswith("/"):
        return f"postgres://{auth}/{quote(host, safe='')}/{db['NAME']}"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{auth}{host}{port}/{db['NAME']}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
